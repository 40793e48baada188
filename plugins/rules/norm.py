"""The ``norm`` rule for parameter-free linear layers: average pooling and explicit sums.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.rules.norm_rules` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.rules.norm_rules"


@hookimpl
def register_rules(register: Any) -> None:
    """Register the ``norm`` rule."""
    register(
        "norm",
        lazy(
            f"{IMPLEMENTATION}:Norm",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
        ),
        description="``R_in = x ∘ Jᵀ (R / s(f(x)))``, no parameter change: average pooling and explicit sums.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
