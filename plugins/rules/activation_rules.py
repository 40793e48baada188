"""Rules for element-wise layers (activations): pass, guided backprop, deconvnet, β-smooth."""

from __future__ import annotations

from typing import Any

import torch

from relscope.core.attribution.elementwise_rule import ElementwiseRule
from relscope.core.errors import RuleConfigurationError


class Pass(ElementwiseRule):
    """``R_in = R``: element-wise layers (activations, merged batch norm) pass relevance on."""

    name = "pass"
    keeps_inplace = True

    def dispatch(self, original: Any, args: tuple, kwargs: dict) -> Any:
        """A layer a canonizer made an exact identity (merged batch norm) just returns its input:
        its gradient already passes relevance unchanged."""
        from relscope.core.attribution.canonizer import exact_identity

        if original is exact_identity:
            return original(*args, **kwargs)
        return super().dispatch(original, args, kwargs)

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """The output relevance unchanged."""
        return relevance


class GuidedBackprop(ElementwiseRule):
    """Guided backprop on ReLU: ``R_in = 1[x > 0] ∘ R ∘ 1[R > 0]``."""

    name = "guided_backprop"

    def keep(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The mask ``x > 0``."""
        return x > 0

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """Positive relevance where the input was positive."""
        assert kept is not None
        return relevance.clamp(min=0) * kept


class Deconvnet(ElementwiseRule):
    """DeconvNet on ReLU: ``R_in = max(R, 0)``."""

    name = "deconvnet"

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """The positive part of the output relevance."""
        return relevance.clamp(min=0)


class BetaSmooth(ElementwiseRule):
    """β-smooth ReLU: the softplus gradient ``R_in = σ(β x) ∘ R`` (β = 10)."""

    name = "beta_smooth"

    def __init__(self, beta: float = 10.0) -> None:
        beta = float(beta)
        if not beta > 0:
            raise RuleConfigurationError(f"beta_smooth needs beta > 0, got {beta:g}")
        self.beta = beta

    def keep(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """The input."""
        return x

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """Relevance times the sigmoid of β times the input."""
        assert kept is not None
        return torch.sigmoid(self.beta * kept) * relevance

    def describe(self) -> str:
        """Name and β."""
        return f"beta_smooth(beta={self.beta:g})"


RULES = (Pass, GuidedBackprop, Deconvnet, BetaSmooth)
