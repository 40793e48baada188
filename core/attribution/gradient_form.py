"""Composites in gradient × input form (AttnLRP, CP-LRP) and the bridge to relevance-form rules.

In this form the backward pass carries a modified *gradient*; the relevance at a tensor is the
tensor times that gradient, so the attributor multiplies the input gradient by the input
(``gradient_times_input``) and the output relevance is the output times its gradient (the target
logit for a one-hot target). Layers without a rule keep their ordinary gradient, which in this form
is the ε-rule for linear layers and residual sums. Function-level rules run through a
:class:`~relscope.core.attribution.function_interception.FunctionInterceptor` around the model's
forward; module-level rules (activations, a user's γ on the patch embedding) are attached as usual.

Relevance-form rules (the CNN rules: γ, z⁺, z^B, …) mixed in through ``layer_map`` are wrapped by
:class:`GradientFormAdapter`: the incoming gradient becomes relevance ``R = y ∘ g``, the rule maps
it to ``R_in``, and the gradient passed on is ``R_in / x`` (0 where ``x = 0``), so that the input
times the gradient is again ``R_in``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attention_coverage import attention_layers
from relscope.core.attribution.attention_rules import attention_handlers
from relscope.core.attribution.composite import LayerMapComposite
from relscope.core.attribution.function_interception import (
    FunctionInterceptor,
    InterceptionHandle,
    intercept_forward,
)
from relscope.core.attribution.rule import Rule, RuleContext
from relscope.core.errors import AttributionError


class GradientFormRule(Rule):
    """Marker base: a rule whose backward maps gradients to gradients (not relevance)."""


class GradientFormAdapter(GradientFormRule):
    """A relevance-form rule used inside a gradient-form composite (see the module docstring)."""

    def __init__(self, inner: Rule) -> None:
        self.inner = inner
        self.name = inner.name

    def copy(self) -> GradientFormAdapter:
        """A fresh copy wrapping a fresh copy of the inner rule."""
        clone = copy.copy(self)
        clone.inner = self.inner.copy()
        clone.module = None
        clone.original_forward = None
        return clone

    @property
    def zero_params(self) -> Any:
        """The inner rule's ``zero_params`` (composites set it)."""
        return getattr(self.inner, "zero_params", ())

    @zero_params.setter
    def zero_params(self, value: Any) -> None:
        if hasattr(self.inner, "zero_params"):
            self.inner.zero_params = value

    def setup(self, module: nn.Module) -> None:
        """The inner rule's checks."""
        self.inner.setup(module)

    def attach(self, module: nn.Module, original: Callable[..., Any]) -> None:
        """Bind both."""
        super().attach(module, original)
        self.inner.attach(module, original)

    def release(self) -> None:
        """Release both."""
        self.inner.release()
        super().release()

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """The inner rule's forward; keeps the input and output values (detached)."""
        output = self.inner.forward(ctx, x)
        ctx.input_value = x.detach()
        ctx.output_value = output.detach()
        return output

    def backward(self, ctx: RuleContext, grad: torch.Tensor) -> torch.Tensor:
        """Gradient in, relevance through the inner rule, gradient out."""
        relevance = self.inner.backward(ctx, ctx.output_value * grad)
        x = ctx.input_value
        safe = torch.where(x == 0, torch.ones_like(x), x)
        return torch.where(x == 0, torch.zeros_like(relevance), relevance / safe)

    def describe(self) -> str:
        """The inner rule's description."""
        return self.inner.describe()


def as_gradient_form(rule: Any) -> Any:
    """``rule`` itself when it works on gradients, else wrapped in :class:`GradientFormAdapter`."""
    if isinstance(rule, GradientFormRule) or not isinstance(rule, Rule):
        return rule
    return GradientFormAdapter(rule)


class GradientFormComposite(LayerMapComposite):
    """A layer map of gradient-form rules plus function-level rules of one ``variant``.

    ``variant``: ``"attn_lrp"`` or ``"cp_lrp"`` (see :mod:`~relscope.core.attribution.
    attention_rules`). ``canonizers`` default to none: the rules need no rewritten model.
    """

    gradient_times_input = True
    covers_attention = True
    variant = "attn_lrp"

    def __init__(
        self,
        layer_map: Sequence[tuple[Any, Any]] | None = None,
        canonizers: Sequence[Any] | None = (),
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(layer_map=layer_map, canonizers=canonizers, zero_params=zero_params)
        self.layer_map = [(key, as_gradient_form(rule)) for key, rule in self.layer_map]
        self._interception: InterceptionHandle | None = None
        self._handlers: dict[Any, tuple[str, Any]] | None = None

    def make_interceptor(self) -> FunctionInterceptor:
        """A fresh interceptor (one per forward) with this variant's handler table (built once)."""
        if self._handlers is None:
            self._handlers = attention_handlers(self.variant)
        return FunctionInterceptor(self._handlers)

    def register(self, model: nn.Module) -> None:
        """Attach the module rules, then run the model's forward inside the interceptor."""
        super().register(model)
        try:
            expected = attention_layers(model)
            self._interception = intercept_forward(
                model, self.make_interceptor, after=lambda mode: _check_attention(mode, expected)
            )
        except BaseException:
            super().remove()
            raise

    def remove(self) -> None:
        """Remove the interception, then the rules and canonizers."""
        handle, self._interception = self._interception, None
        if handle is not None:
            handle.remove()
        super().remove()

    def function_counts(self) -> dict[str, int]:
        """How often each kind of function rule acted in the last forward (inside the context)."""
        handle = self._interception
        if handle is None or handle.last is None:
            return {}
        return dict(handle.last.counts)


def _check_attention(mode: FunctionInterceptor, expected: list[tuple[str, str]]) -> None:
    """Refuse a forward whose attention layers ran without any recognised attention operation."""
    if not expected or mode.counts.get("attention") or mode.counts.get("softmax"):
        return
    name, cls = expected[0]
    raise AttributionError(
        f"attention layer {name or '<model>'} ({cls}) computed attention with an operation relscope "
        "does not recognise (no softmax, scaled_dot_product_attention or "
        "multi_head_attention_forward ran); it has no AttnLRP/CP-LRP rule for it"
    )
