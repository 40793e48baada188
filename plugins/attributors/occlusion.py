"""Occlusion: how much the score drops when a window of the input is filled, spread over the window.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.attributors.occlusion_attributor` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.attributors.occlusion_attributor"


@hookimpl
def register_attributors(register: Any) -> None:
    """Register ``occlusion``."""
    register(
        "occlusion",
        lazy(
            f"{IMPLEMENTATION}:Occlusion",
            Parameter("window", "int | Sequence[int]", 8),
            Parameter("stride", "int | Sequence[int] | None"),
            Parameter("fill", "float | torch.Tensor", 0.0),
            Parameter("batch_size", "int", 32),
        ),
        description="Fill windows of the input and attribute each window the drop of the score it causes.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
