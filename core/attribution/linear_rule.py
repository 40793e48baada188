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
from relscope.core.attribution.modifiers import InputModifier, ParamModifier, sign_bounds
from relscope.core.attribution.parameter_version import parameter_version
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
    ``output_divisor``: ``d`` when the ordinary output is ``Σ_p z_p / d`` (a fact that saves the
    ordinary layer call). ``nonnegative_outputs``: per group, True when ``z_p >= 0`` by
    construction (non-negative inputs times non-negative weights, non-negative bias), a fact that
    lets the stabiliser add ε in one pass. Override :meth:`keep_outputs`, :meth:`gradient_mapper` or
    :meth:`reducer` for other rules; the fast paths follow from what the rule declares, never from
    which methods it overrides.
    """

    def __init__(
        self,
        input_modifiers: Sequence[InputModifier],
        param_modifiers: Sequence[Sequence[ParamModifier]],
        stabilizer: StabilizerLike = 1e-6,
        zero_params: str | Sequence[str] | None = None,
        scales: Sequence[float] | None = None,
        output_modifiers: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        output_divisor: float | None = None,
        nonnegative_outputs: Sequence[bool] | None = None,
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
        self.output_divisor = None if output_divisor is None else float(output_divisor)
        if nonnegative_outputs is None:
            nonnegative_outputs = (False,) * groups
        self.nonnegative_outputs = tuple(bool(n) for n in nonnegative_outputs)
        if len(self.nonnegative_outputs) != groups:
            raise RuleConfigurationError(f"need one nonnegative_outputs flag per group ({groups})")
        self.op: LinearOp | None = None
        self._stacked: torch.Tensor | None = None
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
        self, active: tuple[int, ...], epsilon: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Block weight over the ``active`` input terms and block bias (cached while registered).

        ``epsilon`` > 0 is added to every group's bias (a layer without one gets the bias ε): the
        stabiliser of outputs that are non-negative by construction, folded into the layer call.
        """
        assert self.op is not None
        version = parameter_version(self.op)
        key = (active, epsilon) if epsilon else active
        cached = self._blocks.get(key)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        with torch.no_grad():
            w = self._param("weight")
            b = self._param("bias")
            block_w = self._written_block(w, active)
            if block_w is None:
                rows = [[row[i](w, "weight") for i in active] for row in self.param_modifiers]
                block_w = self.op.block_weight(rows)
            if b is None and not epsilon:
                block_b = None
            else:  # f(0) = b: skipped terms still contribute their bias
                biases = []
                for row in self.param_modifiers:
                    if b is None:
                        total = w.new_zeros(self.op.weight_out_features())
                    else:
                        total = row[0](b, "bias")
                        for modifier in row[1:]:
                            total = total + modifier(b, "bias")
                    biases.append(total + epsilon if epsilon else total)
                block_b = self.op.block_bias(biases)
        self._blocks[key] = (version, block_w, block_b)
        return block_w, block_b

    def _written_block(self, w: torch.Tensor, active: tuple[int, ...]) -> torch.Tensor | None:
        """The block weight written in place by modifiers that can (``write``), or None."""
        assert self.op is not None
        rows = [[row[i] for i in active] for row in self.param_modifiers]
        if len(rows) * len(active) == 1 or not all(hasattr(m, "write") for r in rows for m in r):
            return None
        target = self.op.block_views(w, len(rows), len(active))
        if target is None:
            return None
        block, views = target
        for modifiers, outs in zip(rows, views):
            for modifier, out in zip(modifiers, outs):
                modifier.write(w, "weight", out)
        return block

    # -- input terms ----------------------------------------------------------------------------
    def input_terms(
        self, x: torch.Tensor, bounds: tuple[float, float] | None
    ) -> tuple[list[torch.Tensor | None], tuple[float, float] | None]:
        """The input terms (None where identically zero) and the (min, max) used for sign parts."""
        uses = [getattr(modifier, "uses_bounds", False) for modifier in self.input_modifiers]
        if bounds is None and any(uses):
            bounds = sign_bounds(x)
        terms = [
            modifier(x, bounds) if uses_bounds else modifier(x)
            for modifier, uses_bounds in zip(self.input_modifiers, uses)
        ]
        return terms, bounds

    # -- mapper and reducer (override for other rules) ------------------------------------------
    def keep_outputs(self, outputs: list[torch.Tensor], output: torch.Tensor) -> list[torch.Tensor]:
        """What the backward pass needs from the forward: by default the denominators ``s(z_p)``
        (stabilised in place when the modified outputs are the rule's own tensors)."""
        stabilizer = self.stabilizer
        if isinstance(stabilizer, Stabilizer) and all(z is not output for z in outputs):
            signs = self.nonnegative_outputs if self.output_modifiers is None else ()
            signs += (False,) * (len(outputs) - len(signs))
            return [
                stabilizer.stabilize_nonnegative_(z) if nonnegative else stabilizer.stabilize_(z)
                for z, nonnegative in zip(outputs, signs)
            ]
        return [stabilizer(z) for z in outputs]

    def gradient_buffers(self, like: torch.Tensor) -> list[torch.Tensor]:
        """One empty tensor per output group for a mapper to write its gradients into: views of
        the stacked buffer the transposed call takes, so returning them costs no copy."""
        assert self.op is not None
        groups = len(self.param_modifiers)
        target = self.op.output_buffer(like, groups)
        if target is None:
            return [torch.empty_like(like) for _ in range(groups)]
        self._stacked, views = target
        return views

    def gradient_mapper(
        self, relevance: torch.Tensor, kept: list[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per-group gradients ``g_p = scale_p · R / s(z_p)``."""
        grads = self.gradient_buffers(relevance)
        for grad, scale, denominator in zip(grads, self.scales, kept):
            torch.div(relevance, denominator, out=grad)
            if scale != 1.0:
                grad.mul_(scale)
        return grads

    def _stack_gradients(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """The mapper's gradients as one stacked tensor (its buffer, when it wrote into it)."""
        assert self.op is not None
        stacked, self._stacked = self._stacked, None
        if stacked is not None and all(g._base is stacked for g in grads):
            return stacked
        return self.op.stack_outputs(grads)

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

    def _derived_output(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        """``Σ_p z_p / d`` with the declared ``output_divisor`` d."""
        total = torch.add(outputs[0], outputs[1]) if len(outputs) > 1 else outputs[0].clone()
        for z in outputs[2:]:
            total.add_(z)
        return total if self.output_divisor == 1.0 else total.div_(self.output_divisor)

    def runs_standard_forward(self) -> bool:
        """True when the layer's forward is torch's own (so its output is exactly ``Wx + b``)."""
        return getattr(self.original_forward, "__func__", None) in _STANDARD_FORWARDS

    # -- the passes -----------------------------------------------------------------------------
    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """Ordinary output, stacked modified outputs, kept denominators."""
        assert self.op is not None
        self.op.check_input(x)
        return self.general_forward(ctx, x, None)

    def general_forward(
        self, ctx: RuleContext, x: torch.Tensor, bounds: tuple[float, float] | None
    ) -> torch.Tensor:
        """:meth:`forward` by the general form; ``bounds``: the input's (min, max) if known."""
        assert self.op is not None
        op = self.op
        terms, bounds = self.input_terms(x, bounds)
        active = tuple(i for i, term in enumerate(terms) if term is not None)
        ctx.active = active
        ctx.bounds = bounds
        derives = (
            active
            and self.output_divisor is not None
            and not self.zero_params
            and self.runs_standard_forward()
        )
        output = None if derives else self.call_original(x)
        if not active:  # all input terms vanish: no relevance reaches the input
            ctx.save(x)
            return output
        folded = self._folded_epsilon()
        weight, bias = self.modified_parameters(active, folded)
        if (
            not folded
            and output is not None
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
                output = self._derived_output(outputs)
        if self.output_modifiers is not None:
            outputs = [modify(z) for modify, z in zip(self.output_modifiers, outputs)]
        kept = outputs if folded else self.keep_outputs(outputs, output)
        ctx.save(x, *kept)
        return output

    def _folded_epsilon(self) -> float:
        """The ε to fold into the modified layer call's bias, or 0: when every group's output is
        non-negative by construction and the stabiliser is the plain ``z + ε·sign₀(z)``, the
        denominators are ``z_p + ε``, computed by the layer call itself (no pass of their own)."""
        stabilizer = self.stabilizer
        if (
            all(self.nonnegative_outputs)
            and self.output_modifiers is None
            and self.output_divisor is None  # a derived ordinary output must not include ε
            and isinstance(stabilizer, Stabilizer)
            and stabilizer.adds_epsilon
            and type(self).keep_outputs is LinearRule.keep_outputs
            and type(self).gradient_mapper is LinearRule.gradient_mapper
        ):
            return stabilizer.epsilon
        return 0.0

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The rule's relevance at the input."""
        assert self.op is not None
        op = self.op
        x, *kept = ctx.saved
        active = ctx.active
        if not active:
            return torch.zeros_like(x)
        grad_stack = self._stack_gradients(self.gradient_mapper(relevance, kept))
        del kept
        weight, _ = self.modified_parameters(active, self._folded_epsilon())
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
