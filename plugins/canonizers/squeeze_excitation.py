"""Squeeze-and-excitation gates: relevance goes to the gated signal, none to the gate.

torchvision's ``SqueezeExcitation`` returns ``scale * input``, where ``scale`` is computed from
``input`` itself. Left to the gradient, that product multiplies the relevance by the gate and
sends a second share into the gate branch, so relevance is neither conserved nor meaningful. The
usual LRP treatment of multiplicative gates ("signal-take-all", Arras et al. 2017) takes the gate
as a constant: the product is then a diagonal linear map whose epsilon/norm rule gives all
relevance to the signal. This canonizer puts such a :class:`GatedProduct` in every block.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.squeeze_excitation_canonizer` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.squeeze_excitation_canonizer"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the squeeze-excitation canonizer."""
    register(
        "squeeze_excitation",
        lazy(
            f"{IMPLEMENTATION}:SqueezeExcitationCanonizer",
            Parameter("attribute_map", "AttributeMap | None"),
        ),
        description="Route the relevance of torchvision squeeze-excitation blocks to the signal (not the gate).",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
