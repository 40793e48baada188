"""Rule base for parameter-free layers linear in their input (average pooling, explicit sums):
relevance normalised by the stabilised output and pulled back through the layer's own VJP."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relscope.core.attribution.rule import Rule, RuleContext
from relscope.core.attribution.stabilizer import Stabilizer, StabilizerLike
from relscope.core.attribution.sum_layer import Sum
from relscope.core.attribution.summand_relevance import SummandRelevance, summands_apply


class NormRule(Rule):
    """``R_in = x ∘ Jᵀ (R / s(f(x)))`` with the layer unchanged (average pooling, sums).

    The layer's own VJP is used, so any parameter-free layer that is linear in its input works;
    for a :class:`Sum` (whose VJP broadcasts) it is written out instead of re-running the layer.
    """

    def __init__(self, stabilizer: StabilizerLike = 1e-6) -> None:
        self.stabilizer = Stabilizer.ensure(stabilizer)

    def setup(self, module: nn.Module) -> None:
        """Any layer works; nothing to prepare."""

    def dispatch(self, original: Any, args: tuple, kwargs: dict) -> Any:
        """A :class:`Sum` given its summands one by one adds them and keeps them as they are
        (:mod:`~relscope.core.attribution.summand_relevance`); anything else as for any rule."""
        if (
            not kwargs
            and getattr(original, "__func__", None) is Sum.forward
            and summands_apply(self.module, args)
        ):
            return SummandRelevance.apply(self, *args)
        return super().dispatch(original, args, kwargs)

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """The ordinary output; keeps the input and the stabilised output."""
        output = self.call_original(x)
        ctx.save(x, self.stabilizer(output))
        return output

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """Normalised relevance pulled back through the layer's VJP, times the input."""
        x, denominator = ctx.saved
        if getattr(self.original_forward, "__func__", None) is Sum.forward:
            return x * (relevance / denominator).unsqueeze(self.module.dim)
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            output = self.call_original(leaf)
            (grad,) = torch.autograd.grad(output, leaf, grad_outputs=relevance / denominator)
        return x * grad

    def describe(self) -> str:
        """Name and stabiliser."""
        return f"{self.name or type(self).__name__}({self.stabilizer!r})"
