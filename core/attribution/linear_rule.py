"""The general rule for linear layers: modifiers, gradient mapper and reducer, run stacked.

A rule has m input modifiers ``x_i = in_i(x)`` and, for each of P output groups, one parameter
modifier per input term, ``θ_pi = p_pi(θ)``. In the forward pass

    z_p = out_p( Σ_i f(x_i; W_pi) + Σ_i b_pi )

is computed for all groups in ONE stacked layer call (see :mod:`linear_ops`); only what the mapper
needs (by default the stabilised ``s(z_p)``) is kept. In the backward pass the gradient mapper turns
the output relevance R into per-group gradients ``g_p`` (default ``scale_p · R / s(z_p)``), ONE
stacked transposed call gives ``G_i = Σ_p J(W_pi)ᵀ g_p``, and the reducer combines them (default
``R_in = Σ_i x_i ∘ G_i``). Input terms that are identically zero (``x⁻`` after a ReLU) are skipped,
and the modified weights are built once per registration and reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.layer_types import Convolution, Dense
from relscope.core.attribution.linear_ops import LinearOp, linear_op
from relscope.core.attribution.modifiers import InputModifier, ParamModifier, SignPart, sign_bounds
from relscope.core.attribution.rule import Rule, RuleContext
from relscope.core.attribution.stabilizer import Stabilizer, StabilizerLike
from relscope.core.errors import RuleConfigurationError

#: forwards of the torch layers themselves (a subclass with its own forward is always run)
_STANDARD_FORWARDS = {layer.forward for layer in (*Dense, *Convolution)}


def normalize_zero_params(zero_params: str | Sequence[str] | None) -> tuple[str, ...]:
    """``zero_params`` as a tuple of parameter names."""
    if zero_params is None:
        return ()
    if isinstance(zero_params, str):
        return (zero_params,)
    names = tuple(zero_params)
    for name in names:
        if not isinstance(name, str):
            raise RuleConfigurationError(f"zero_params must name parameters, got {name!r}")
    return names


class LinearRule(Rule):
    """A rule for Linear, Conv{1,2,3}d and ConvTranspose{1,2,3}d layers, built from modifiers.

    ``input_modifiers``: m callables ``x -> x_i`` (None = all zero, skipped).
    ``param_modifiers``: P rows of m callables ``(param, name) -> param``.
    ``scales``: one factor per output group applied to its gradient (α, −β for α-β).
    ``output_modifiers``: optional per-group ``z_p -> z_p``.
    ``stabilizer``: float ε or callable ``z -> s(z)``. ``zero_params``: parameter names replaced by
    zeros before the modifiers (``("bias",)`` keeps relevance out of biases).
    Override :meth:`keep_outputs`, :meth:`gradient_mapper` (and :meth:`write_gradients`, its
    allocation-free form) or :meth:`reducer` for other rules, and :meth:`derive_output` when the
    ordinary output follows from the modified ones.
    """

    def __init__(
        self,
        input_modifiers: Sequence[InputModifier],
        param_modifiers: Sequence[Sequence[ParamModifier]],
        stabilizer: StabilizerLike = 1e-6,
        zero_params: str | Sequence[str] | None = None,
        scales: Sequence[float] | None = None,
        output_modifiers: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> None:
        self.input_modifiers = tuple(input_modifiers)
        self.param_modifiers = tuple(tuple(row) for row in param_modifiers)
        if not self.input_modifiers or not self.param_modifiers:
            raise RuleConfigurationError(
                "a linear rule needs at least one input and one output group"
            )
        for row in self.param_modifiers:
            if len(row) != len(self.input_modifiers):
                raise RuleConfigurationError(
                    f"each output group needs one parameter modifier per input term "
                    f"({len(self.input_modifiers)}), got {len(row)}"
                )
        self.stabilizer = Stabilizer.ensure(stabilizer)
        self.zero_params = normalize_zero_params(zero_params)
        groups = len(self.param_modifiers)
        self.scales = tuple(float(s) for s in scales) if scales is not None else (1.0,) * groups
        if len(self.scales) != groups:
            raise RuleConfigurationError(f"need one scale per output group ({groups})")
        self.output_modifiers = tuple(output_modifiers) if output_modifiers is not None else None
        self.op: LinearOp | None = None
        self._blocks: dict[tuple, tuple[Any, torch.Tensor, torch.Tensor | None]] = {}

    # -- registration ---------------------------------------------------------------------------
    def setup(self, module: nn.Module) -> None:
        """Check that ``module`` is a linear layer and build its stacking helper."""
        op = linear_op(module)
        if op is None:
            raise RuleConfigurationError(
                f"rule {self.name or type(self).__name__!r} applies to linear layers (Linear, "
                f"Conv, ConvTranspose), not to {type(module).__name__}"
            )
        self.op = op

    def reset(self) -> None:
        """Drop the cached modified weights."""
        self._blocks = {}

    def release(self) -> None:
        """Forget the layer."""
        super().release()
        self.op = None

    # -- parameters -----------------------------------------------------------------------------
    def _param(self, name: str) -> torch.Tensor | None:
        assert self.op is not None
        param = getattr(self.op.module, name, None)
        if param is None:
            return None
        if name in self.zero_params:
            return torch.zeros_like(param)
        return param

    def modified_parameters(
        self, active: tuple[int, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Block weight over the ``active`` input terms and block bias (cached while registered)."""
        assert self.op is not None
        weight, bias = self.op.weight, self.op.bias
        version = (
            weight.data_ptr(),
            weight._version,
            weight.dtype,
            None if bias is None else (bias.data_ptr(), bias._version),
        )
        cached = self._blocks.get(active)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        with torch.no_grad():
            w = self._param("weight")
            b = self._param("bias")
            rows = [[row[i](w, "weight") for i in active] for row in self.param_modifiers]
            block_w = self.op.block_weight(rows)
            if b is None:
                block_b = None
            else:  # f(0) = b: skipped terms still contribute their bias
                biases = []
                for row in self.param_modifiers:
                    total = row[0](b, "bias")
                    for modifier in row[1:]:
                        total = total + modifier(b, "bias")
                    biases.append(total)
                block_b = self.op.block_bias(biases)
        self._blocks[active] = (version, block_w, block_b)
        return block_w, block_b

    # -- input terms ----------------------------------------------------------------------------
    def input_terms(
        self, x: torch.Tensor, bounds: tuple[float, float] | None
    ) -> tuple[list[torch.Tensor | None], tuple[float, float] | None]:
        """The input terms (None where identically zero) and the (min, max) used for sign parts."""
        if bounds is None and any(isinstance(m, SignPart) for m in self.input_modifiers):
            bounds = sign_bounds(x)
        terms = [
            modifier(x, bounds) if isinstance(modifier, SignPart) else modifier(x)
            for modifier in self.input_modifiers
        ]
        return terms, bounds

    # -- mapper and reducer (override for other rules) ------------------------------------------
    def keep_outputs(self, outputs: list[torch.Tensor], output: torch.Tensor) -> list[torch.Tensor]:
        """What the backward pass needs from the forward: by default the denominators ``s(z_p)``."""
        return [self.stabilizer(z) for z in outputs]

    def gradient_mapper(
        self, relevance: torch.Tensor, kept: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per-group gradients ``g_p = scale_p · R / s(z_p)``."""
        grads = []
        for scale, denominator in zip(self.scales, kept):
            g = relevance / denominator
            grads.append(g if scale == 1.0 else g * scale)
        return grads

    def derive_output(self, outputs: list[torch.Tensor]) -> torch.Tensor | None:
        """The ordinary layer output computed from the modified outputs, when a rule can (saves
        one layer call); None: run the layer. Only used with standard layers and no
        ``zero_params``."""
        return None

    def write_gradients(
        self, relevance: torch.Tensor, kept: list[torch.Tensor], out: list[torch.Tensor]
    ) -> None:
        """Write ``g_p`` into ``out[p]`` (views of one stacked buffer), without temporaries.

        The default divides in place; rules that override :meth:`gradient_mapper` but not this
        method get their mapper's results copied in.
        """
        if type(self).gradient_mapper is not LinearRule.gradient_mapper:
            for view, grad in zip(out, self.gradient_mapper(relevance, kept)):
                view.copy_(grad)
            return
        for view, scale, denominator in zip(out, self.scales, kept):
            torch.div(relevance, denominator, out=view)
            if scale != 1.0:
                view.mul_(scale)

    def reducer(
        self, inputs: list[torch.Tensor | None], gradients: list[torch.Tensor | None]
    ) -> torch.Tensor:
        """``R_in = Σ_i x_i ∘ G_i`` over the non-skipped terms.

        The gradients are fresh tensors owned by the rule, so a single term is multiplied in
        place (one activation-sized tensor less at the peak of the backward pass).
        """
        pairs = [(x, g) for x, g in zip(inputs, gradients) if x is not None and g is not None]
        if len(pairs) == 1:
            x, g = pairs[0]
            return g.mul_(x) if g.shape == x.shape and not g._is_view() else x * g
        total = pairs[0][0] * pairs[0][1]
        for x, g in pairs[1:]:
            total.addcmul_(x, g)
        return total

    # -- the passes -----------------------------------------------------------------------------
    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """Ordinary output, stacked modified outputs, kept denominators."""
        assert self.op is not None
        op = self.op
        op.check_input(x)
        terms, bounds = self.input_terms(x, None)
        active = tuple(i for i, term in enumerate(terms) if term is not None)
        ctx.active = active
        ctx.bounds = bounds
        derives = (
            active
            and not self.zero_params
            and getattr(self.original_forward, "__func__", None) in _STANDARD_FORWARDS
            and type(self).derive_output is not LinearRule.derive_output
        )
        output = None if derives else self.call_original(x)
        if not active:  # all input terms vanish: no relevance reaches the input
            ctx.save(x)
            return output
        weight, bias = self.modified_parameters(active)
        if (
            output is not None
            and len(self.param_modifiers) == 1
            and len(active) == 1
            and terms[active[0]] is x
            and weight is op.weight
            and bias is op.bias
        ):  # the modified pass is the ordinary one (epsilon rule): reuse the output
            outputs = [output]
        else:
            inputs = [op.prepare_input(terms[i]) for i in active]
            stacked = op.stacked_forward(op.stack_inputs(inputs), weight, bias)
            del inputs
            outputs = op.split_outputs(stacked, len(self.param_modifiers))
            if output is None:
                output = self.derive_output(outputs)
        if self.output_modifiers is not None:
            outputs = [modify(z) for modify, z in zip(self.output_modifiers, outputs)]
        if (
            outputs[0] is not output
            and self.output_modifiers is None
            and type(self).keep_outputs is LinearRule.keep_outputs
            and isinstance(self.stabilizer, Stabilizer)
        ):  # the stacked outputs are ours: stabilise them in place
            kept = [self.stabilizer.stabilize_(z) for z in outputs]
        else:
            kept = self.keep_outputs(outputs, output)
        ctx.save(x, *kept)
        return output

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The rule's relevance at the input."""
        assert self.op is not None
        op = self.op
        x, *kept = ctx.saved
        active = ctx.active
        if not active:
            return torch.zeros_like(x)
        groups = len(self.param_modifiers)
        target = op.output_buffer(relevance, groups)
        if target is None:
            grad_stack = op.stack_outputs(self.gradient_mapper(relevance, kept))
        else:
            grad_stack, views = target
            self.write_gradients(relevance, kept, views)
            del views
        del kept
        weight, _ = self.modified_parameters(active)
        terms, _ = self.input_terms(x, ctx.bounds)
        padded = [None if term is None else op.prepare_input(term) for term in terms]
        shape = padded[active[0]].shape
        stacked = op.stacked_vjp(grad_stack, weight, op.stacked_shape(shape, len(active)))
        del grad_stack
        parts = op.split_inputs(stacked, len(active))
        gradients: list[torch.Tensor | None] = [None] * len(terms)
        for index, part in zip(active, parts):
            gradients[index] = part
        result = self.reducer(padded, gradients)
        if result.shape != shape:
            result = result.expand(shape)
        return op.input_adjoint(result, x)

    def describe(self) -> str:
        """Name plus the settings that matter."""
        extra = f", zero_params={list(self.zero_params)}" if self.zero_params else ""
        return f"{self.name or type(self).__name__}({self.stabilizer!r}{extra})"

    def __repr__(self) -> str:
        return self.describe()
