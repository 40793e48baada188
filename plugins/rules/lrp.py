"""LRP rules for linear layers (Linear, Conv, ConvTranspose).

ε, z⁺, α-β, γ, z^B, flat, w² and excitation backprop; ``docs/lrp-rules.md`` has the formulas.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.rules.linear_rules` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.rules.linear_rules"


@hookimpl
def register_rules(register: Any) -> None:
    """Register the rules for linear layers."""
    register(
        "alpha_beta",
        lazy(
            f"{IMPLEMENTATION}:AlphaBeta",
            Parameter("alpha", "float", 2.0),
            Parameter("beta", "float", 1.0),
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-αβ: positive contributions weighted by α, negative ones by β (α, β ≥ 0, α − β = 1).",
    )
    register(
        "epsilon",
        lazy(
            f"{IMPLEMENTATION}:Epsilon",
            Parameter("epsilon", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-ε: ``R_in = x ∘ Jᵀ (R / s(z))`` with z the layer output (bias included); ε=0 is LRP-0.",
    )
    register(
        "excitation_backprop",
        lazy(
            f"{IMPLEMENTATION}:ExcitationBackprop",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams", ("bias",)),
        ),
        description="Excitation backprop's marginal winning probability on a linear layer: z⁺ without bias.",
    )
    register(
        "flat",
        lazy(
            f"{IMPLEMENTATION}:Flat",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-flat: relevance spread uniformly over each output's receptive field.",
    )
    register(
        "gamma",
        lazy(
            f"{IMPLEMENTATION}:Gamma",
            Parameter("gamma", "float", 0.25),
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="Generalised LRP-γ: positive contributions amplified by γ, also for negative inputs.",
    )
    register(
        "wsquare",
        lazy(
            f"{IMPLEMENTATION}:WSquare",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-w²: relevance in proportion to squared weights (inputs replaced by ones).",
    )
    register(
        "zbox",
        lazy(
            f"{IMPLEMENTATION}:ZBox",
            Parameter("low", "Any"),
            Parameter("high", "Any"),
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-z^B for inputs bounded by ``low ≤ x ≤ high`` (first layer on pixels).",
    )
    register(
        "zplus",
        lazy(
            f"{IMPLEMENTATION}:ZPlus",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("zero_params", "ZeroParams"),
        ),
        description="LRP-z⁺: ``z⁺ = W⁺x⁺ + W⁻x⁻ + b⁺``, ``R_in = x⁺∘W⁺ᵀg + x⁻∘W⁻ᵀg``, ``g = R / s(z⁺)``.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
