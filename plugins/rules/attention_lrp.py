"""AttnLRP and CP-LRP: the composites for attention models, and the identity rule they use.

``attn_lrp`` (Achtibat et al., ICML 2024) and ``cp_lrp`` (Ali et al., ICML 2022) work on any model:
attention (eager, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``), LayerNorm/RMSNorm,
activations and gated products are found by intercepting torch functions during the forward (see
``relscope.core.attribution.attention_rules``); activation *modules* get the identity rule. Extra
``layer_map`` entries go first, e.g. γ on the patch embedding:
``get_composite("attn_lrp", layer_map=[(nn.Conv2d, Gamma(gamma=0.25))])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from relscope.core.attribution.activation_modules import is_activation_module
from relscope.core.attribution.attention_rules import GATE_MARK, IDENTITY_EPSILON
from relscope.core.attribution.elementwise_rule import ElementwiseRule
from relscope.core.attribution.gradient_form import GradientFormComposite, GradientFormRule


class IdentityRule(ElementwiseRule, GradientFormRule):
    """Identity rule for an element-wise non-linearity, gradient × input form: the backward
    multiplies the gradient by ``f(x) / (x + 1e-10)`` instead of ``f'(x)``."""

    name = "identity"

    def keep(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The ratio ``f(x) / (x + ε)``."""
        return output / (x + IDENTITY_EPSILON)

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """The incoming gradient times the ratio."""
        assert kept is not None
        return relevance * kept

    def dispatch(self, original: Any, args: tuple, kwargs: dict) -> Any:
        """Run the layer; mark its output as a gate (CP-LRP keeps gates constant in products)."""
        output = super().dispatch(original, args, kwargs)
        if isinstance(output, torch.Tensor) and output.requires_grad:
            setattr(output, GATE_MARK, True)
        return output


Map = Sequence[tuple[Any, Any]] | None


class AttnLRP(GradientFormComposite):
    """AttnLRP: identity rule on activations, constant norm statistics, uniform rule on
    products of two signals (q, k: ¼, v: ½ of the gradient), softmax keeps its gradient."""

    name = "attn_lrp"
    variant = "attn_lrp"

    def __init__(
        self, layer_map: Map = None, canonizers: Any = (), zero_params: Any = None
    ) -> None:
        own = [(is_activation_module, IdentityRule())]
        super().__init__(
            layer_map=list(layer_map or []) + own, canonizers=canonizers, zero_params=zero_params
        )


class CPLRP(AttnLRP):
    """CP-LRP: as AttnLRP, but attention probabilities and gates are constants (the value path
    and the gated signal keep their full gradient)."""

    name = "cp_lrp"
    variant = "cp_lrp"
