"""The named composites of the spec: ε-γ-box, ε-plus(-flat), ε-α2β1(-flat), excitation backprop,
guided backprop, deconvnet and β-smooth.

Each LRP composite applies its own map first, then the base map (activation → pass, sum → norm,
average pooling → norm, batch norm → pass). Every composite accepts extra ``layer_map`` entries
(ahead of its own), ``canonizers`` and ``zero_params``.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.rules.named_composites` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.rules.named_composites"
#: what every ε-based LRP composite accepts, in its signature's order (ε-γ-box puts its own first)
LRP_PARAMETERS = (
    Parameter("epsilon", "StabilizerLike", 1e-06),
    Parameter("stabilizer", "StabilizerLike", 1e-06),
    Parameter("layer_map", "Map"),
    Parameter("first_map", "Map"),
    Parameter("zero_params", "ZeroParams"),
    Parameter("canonizers", "Any"),
)


@hookimpl
def register_composites(register: Any) -> None:
    """Register the named composites."""
    register(
        "beta_smooth",
        lazy(
            f"{IMPLEMENTATION}:BetaSmoothComposite",
            Parameter("beta", "float", 10.0),
            Parameter("layer_map", "Map"),
            Parameter("canonizers", "Any"),
        ),
        description="β-smooth (softplus gradient) on every ReLU; everything else keeps its gradient.",
    )
    register(
        "deconvnet",
        lazy(
            f"{IMPLEMENTATION}:DeconvnetComposite",
            Parameter("layer_map", "Map"),
            Parameter("canonizers", "Any"),
        ),
        description="DeconvNet on every ReLU; everything else keeps its gradient.",
    )
    register(
        "epsilon_alpha2_beta1",
        lazy(
            f"{IMPLEMENTATION}:EpsilonAlpha2Beta1",
            *LRP_PARAMETERS,
        ),
        description="α2β1 on convolutions, ε on dense layers.",
    )
    register(
        "epsilon_alpha2_beta1_flat",
        lazy(
            f"{IMPLEMENTATION}:EpsilonAlpha2Beta1Flat",
            *LRP_PARAMETERS,
        ),
        description="α2β1 on convolutions, ε on dense layers, flat on the first linear layer of any kind.",
    )
    register(
        "epsilon_gamma_box",
        lazy(
            f"{IMPLEMENTATION}:EpsilonGammaBox",
            Parameter("low", "Any"),
            Parameter("high", "Any"),
            LRP_PARAMETERS[0],
            Parameter("gamma", "float", 0.25),
            *LRP_PARAMETERS[1:],
        ),
        description="γ on convolutions, ε on dense layers, z^B (``low``, ``high``) on the first convolution.",
    )
    register(
        "epsilon_plus",
        lazy(
            f"{IMPLEMENTATION}:EpsilonPlus",
            *LRP_PARAMETERS,
        ),
        description="z⁺ on convolutions, ε on dense layers.",
    )
    register(
        "epsilon_plus_flat",
        lazy(
            f"{IMPLEMENTATION}:EpsilonPlusFlat",
            *LRP_PARAMETERS,
        ),
        description="z⁺ on convolutions, ε on dense layers, flat on the first linear layer of any kind.",
    )
    register(
        "excitation_backprop",
        lazy(
            f"{IMPLEMENTATION}:ExcitationBackpropComposite",
            Parameter("stabilizer", "StabilizerLike", 1e-06),
            Parameter("layer_map", "Map"),
            Parameter("zero_params", "ZeroParams", ("bias",)),
            Parameter("canonizers", "Any"),
        ),
        description="Excitation backprop: bias-free z⁺ on all linear layers; activations keep their gradient.",
    )
    register(
        "guided_backprop",
        lazy(
            f"{IMPLEMENTATION}:GuidedBackpropComposite",
            Parameter("layer_map", "Map"),
            Parameter("canonizers", "Any"),
        ),
        description="Guided backprop on every ReLU; everything else keeps its gradient.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
