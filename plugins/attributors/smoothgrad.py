"""SmoothGrad: the gradient (or, with a composite, the relevance) averaged over noisy inputs.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.attributors.smoothgrad_attributor` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.attributors.smoothgrad_attributor"


@hookimpl
def register_attributors(register: Any) -> None:
    """Register ``smoothgrad``."""
    register(
        "smoothgrad",
        lazy(
            f"{IMPLEMENTATION}:SmoothGrad",
            Parameter("noise_level", "float", 0.1),
            Parameter("n_iter", "int", 20),
            Parameter("seed", "int | None"),
        ),
        description="Average of ``n_iter`` gradients at ``x + noise`` (Smilkov et al., 2017).",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
