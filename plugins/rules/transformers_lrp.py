"""AttnLRP and CP-LRP: the composites for attention models, and the identity rule they use.

``attn_lrp`` (Achtibat et al., ICML 2024) and ``cp_lrp`` (Ali et al., ICML 2022) work on any model:
attention (eager, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``), LayerNorm/RMSNorm,
activations and gated products are found by intercepting torch functions during the forward (see
``relscope.core.attribution.attention_rules``); activation *modules* get the identity rule. Extra
``layer_map`` entries go first, e.g. γ on the patch embedding:
``get_composite("attn_lrp", layer_map=[(nn.Conv2d, Gamma(gamma=0.25))])``.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.rules.attention_lrp` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.rules.attention_lrp"


@hookimpl
def register_rules(register: Any) -> None:
    """Register the identity rule."""
    register(
        "identity",
        lazy(f"{IMPLEMENTATION}:IdentityRule"),
        description="Identity rule for an element-wise non-linearity, gradient × input form: the backward",
    )


@hookimpl
def register_composites(register: Any) -> None:
    """Register attn_lrp and cp_lrp."""
    register(
        "attn_lrp",
        lazy(
            f"{IMPLEMENTATION}:AttnLRP",
            Parameter("layer_map", "Map"),
            Parameter("canonizers", "Any", ()),
            Parameter("zero_params", "Any"),
        ),
        description="AttnLRP: identity rule on activations, constant norm statistics, uniform rule on",
    )
    register(
        "cp_lrp",
        lazy(
            f"{IMPLEMENTATION}:CPLRP",
            Parameter("layer_map", "Map"),
            Parameter("canonizers", "Any", ()),
            Parameter("zero_params", "Any"),
        ),
        description="CP-LRP: as AttnLRP, but attention probabilities and gates are constants (the value path",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
