"""Rules for element-wise layers (activations): pass, guided backprop, deconvnet, β-smooth.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.rules.activation_rules` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.rules.activation_rules"


@hookimpl
def register_rules(register: Any) -> None:
    """Register the rules for element-wise layers."""
    register(
        "beta_smooth",
        lazy(
            f"{IMPLEMENTATION}:BetaSmooth",
            Parameter("beta", "float", 10.0),
        ),
        description="β-smooth ReLU: the softplus gradient ``R_in = σ(β x) ∘ R`` (β = 10).",
    )
    register(
        "deconvnet",
        lazy(f"{IMPLEMENTATION}:Deconvnet"),
        description="DeconvNet on ReLU: ``R_in = max(R, 0)``.",
    )
    register(
        "guided_backprop",
        lazy(f"{IMPLEMENTATION}:GuidedBackprop"),
        description="Guided backprop on ReLU: ``R_in = 1[x > 0] ∘ R ∘ 1[R > 0]``.",
    )
    register(
        "pass",
        lazy(f"{IMPLEMENTATION}:Pass"),
        description="``R_in = R``: element-wise layers (activations, merged batch norm) pass relevance on.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
