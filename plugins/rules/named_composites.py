"""The named composites of the spec: ε-γ-box, ε-plus(-flat), ε-α2β1(-flat), excitation backprop,
guided backprop, deconvnet and β-smooth.

Each LRP composite applies its own map first, then the base map (activation → pass, sum → norm,
average pooling → norm, batch norm → pass). Every composite accepts extra ``layer_map`` entries
(ahead of its own), ``canonizers`` and ``zero_params``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from relscope.core.attribution.composite import LayerMapComposite, SpecialFirstLayerMapComposite
from relscope.core.attribution.layer_types import (
    Activation,
    AvgPool,
    BatchNorm,
    Convolution,
    Dense,
    Linear,
    Summation,
)
from relscope.core.attribution.stabilizer import StabilizerLike
from relscope.plugins.rules.activation_rules import BetaSmooth, Deconvnet, GuidedBackprop, Pass
from relscope.plugins.rules.linear_rules import (
    AlphaBeta,
    Epsilon,
    ExcitationBackprop,
    Flat,
    Gamma,
    ZBox,
    ZPlus,
)
from relscope.plugins.rules.norm_rules import Norm

Map = Sequence[tuple[Any, Any]] | None
ZeroParams = str | Sequence[str] | None


def base_map(stabilizer: StabilizerLike = 1e-6) -> list[tuple[Any, Any]]:
    """The map every LRP composite ends with."""
    return [
        (Activation, Pass()),
        (Summation, Norm(stabilizer=stabilizer)),
        (AvgPool, Norm(stabilizer=stabilizer)),
        (BatchNorm, Pass()),
    ]


def lrp_map(
    conv_rule: Any,
    epsilon: StabilizerLike,
    stabilizer: StabilizerLike,
    zero_params: ZeroParams,
    layer_map: Map,
) -> list[tuple[Any, Any]]:
    """User entries first, then ``conv_rule`` on convolutions and ε on dense layers, then the base map."""
    own = [(Convolution, conv_rule), (Dense, Epsilon(epsilon=epsilon, zero_params=zero_params))]
    return list(layer_map or []) + own + base_map(stabilizer)


def flat_first_map(
    stabilizer: StabilizerLike, zero_params: ZeroParams, first_map: Map
) -> list[tuple[Any, Any]]:
    """User entries first, then flat on the first linear layer of any kind."""
    return list(first_map or []) + [(Linear, Flat(stabilizer=stabilizer, zero_params=zero_params))]


class EpsilonGammaBox(SpecialFirstLayerMapComposite):
    """γ on convolutions, ε on dense layers, z^B (``low``, ``high``) on the first convolution."""

    name = "epsilon_gamma_box"

    def __init__(
        self,
        low: Any = None,
        high: Any = None,
        epsilon: StabilizerLike = 1e-6,
        gamma: float = 0.25,
        stabilizer: StabilizerLike = 1e-6,
        layer_map: Map = None,
        first_map: Map = None,
        zero_params: ZeroParams = None,
        canonizers: Any = None,
    ) -> None:
        gamma_rule = Gamma(gamma=gamma, stabilizer=stabilizer, zero_params=zero_params)
        first = [(Convolution, ZBox(low, high, stabilizer=stabilizer, zero_params=zero_params))]
        super().__init__(
            layer_map=lrp_map(gamma_rule, epsilon, stabilizer, zero_params, layer_map),
            first_map=list(first_map or []) + first,
            canonizers=canonizers,
        )


class ConvRuleComposite(SpecialFirstLayerMapComposite):
    """An LRP composite of the table below: its convolution rule, ε on dense layers, the base
    map, and (``flat_first``) flat on the first linear layer of any kind."""

    #: the convolution rule, made from (stabilizer, zero_params)
    conv_rule: Callable[[StabilizerLike, ZeroParams], Any]
    flat_first: bool = False

    def __init__(
        self,
        epsilon: StabilizerLike = 1e-6,
        stabilizer: StabilizerLike = 1e-6,
        layer_map: Map = None,
        first_map: Map = None,
        zero_params: ZeroParams = None,
        canonizers: Any = None,
    ) -> None:
        conv_rule = type(self).conv_rule(stabilizer, zero_params)
        first = list(first_map or [])
        if self.flat_first:
            first = flat_first_map(stabilizer, zero_params, first)
        super().__init__(
            layer_map=lrp_map(conv_rule, epsilon, stabilizer, zero_params, layer_map),
            first_map=first,
            canonizers=canonizers,
        )


def _z_plus(stabilizer: StabilizerLike, zero_params: ZeroParams) -> Any:
    return ZPlus(stabilizer=stabilizer, zero_params=zero_params)


def _alpha2_beta1(stabilizer: StabilizerLike, zero_params: ZeroParams) -> Any:
    return AlphaBeta(2.0, 1.0, stabilizer=stabilizer, zero_params=zero_params)


#: the composites that differ only in their convolution rule and a flat first layer:
#: (class name, registered name, convolution rule, flat first layer, description)
CONV_RULE_COMPOSITES = (
    ("EpsilonPlus", "epsilon_plus", _z_plus, False, "z⁺ on convolutions, ε on dense layers."),
    (
        "EpsilonPlusFlat",
        "epsilon_plus_flat",
        _z_plus,
        True,
        "z⁺ on convolutions, ε on dense layers, flat on the first linear layer of any kind.",
    ),
    (
        "EpsilonAlpha2Beta1",
        "epsilon_alpha2_beta1",
        _alpha2_beta1,
        False,
        "α2β1 on convolutions, ε on dense layers.",
    ),
    (
        "EpsilonAlpha2Beta1Flat",
        "epsilon_alpha2_beta1_flat",
        _alpha2_beta1,
        True,
        "α2β1 on convolutions, ε on dense layers, flat on the first linear layer of any kind.",
    ),
)


def _conv_rule_composite(
    class_name: str, name: str, rule: Any, flat_first: bool, doc: str
) -> type[ConvRuleComposite]:
    attributes = {
        "name": name,
        "conv_rule": staticmethod(rule),
        "flat_first": flat_first,
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": class_name,
    }
    return type(class_name, (ConvRuleComposite,), attributes)


EpsilonPlus, EpsilonPlusFlat, EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat = (
    _conv_rule_composite(*row) for row in CONV_RULE_COMPOSITES
)


class ExcitationBackpropComposite(LayerMapComposite):
    """Excitation backprop: bias-free z⁺ on all linear layers; activations keep their gradient.

    Sums and average pooling get the norm rule.
    """

    name = "excitation_backprop"

    def __init__(
        self,
        stabilizer: StabilizerLike = 1e-6,
        layer_map: Map = None,
        zero_params: ZeroParams = ("bias",),
        canonizers: Any = None,
    ) -> None:
        own = [
            (Summation, Norm(stabilizer=stabilizer)),
            (AvgPool, Norm(stabilizer=stabilizer)),
            (Linear, ExcitationBackprop(stabilizer=stabilizer, zero_params=zero_params)),
        ]
        super().__init__(layer_map=list(layer_map or []) + own, canonizers=canonizers)


class GuidedBackpropComposite(LayerMapComposite):
    """Guided backprop on every ReLU; everything else keeps its gradient."""

    name = "guided_backprop"

    def __init__(self, layer_map: Map = None, canonizers: Any = None) -> None:
        super().__init__(
            layer_map=list(layer_map or []) + [(nn.ReLU, GuidedBackprop())], canonizers=canonizers
        )


class DeconvnetComposite(LayerMapComposite):
    """DeconvNet on every ReLU; everything else keeps its gradient."""

    name = "deconvnet"

    def __init__(self, layer_map: Map = None, canonizers: Any = None) -> None:
        super().__init__(
            layer_map=list(layer_map or []) + [(nn.ReLU, Deconvnet())], canonizers=canonizers
        )


class BetaSmoothComposite(LayerMapComposite):
    """β-smooth (softplus gradient) on every ReLU; everything else keeps its gradient."""

    name = "beta_smooth"

    def __init__(self, beta: float = 10.0, layer_map: Map = None, canonizers: Any = None) -> None:
        super().__init__(
            layer_map=list(layer_map or []) + [(nn.ReLU, BetaSmooth(beta=beta))],
            canonizers=canonizers,
        )


COMPOSITES = (
    EpsilonGammaBox,
    EpsilonPlus,
    EpsilonPlusFlat,
    EpsilonAlpha2Beta1,
    EpsilonAlpha2Beta1Flat,
    ExcitationBackpropComposite,
    GuidedBackpropComposite,
    DeconvnetComposite,
    BetaSmoothComposite,
)
