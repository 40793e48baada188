"""Integrated gradients: the gradient averaged along the straight path from a baseline.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.attributors.integrated_gradients_attributor` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.attributors.integrated_gradients_attributor"


@hookimpl
def register_attributors(register: Any) -> None:
    """Register ``integrated_gradients``."""
    register(
        "integrated_gradients",
        lazy(
            f"{IMPLEMENTATION}:IntegratedGradients",
            Parameter("baseline", "float | torch.Tensor | None"),
            Parameter("n_steps", "int", 20),
        ),
        description="``(x - x0) * mean_k grad(x0 + k/n (x - x0))`` for ``k = 1..n`` (Sundararajan et al., 2017).",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
