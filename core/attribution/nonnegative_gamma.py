"""The γ rule on a non-negative input (after a ReLU), written in the basis (W, |W|).

With ``x ≥ 0`` only the ``x⁺ = x`` terms remain, and ``W↑ = W + γW⁺``, ``W↓ = W + γW⁻`` are
``(1 + γ/2)W ± (γ/2)|W|`` (as ``W⁺ = (W + |W|)/2``, ``W⁻ = (W − |W|)/2``; likewise the biases).
So, with the ordinary output ``z = Wx + b`` and ``v = |W|x + |b|`` (≥ 0):

    z↑ = (1 + γ/2) z + (γ/2) v,   z↓ = (1 + γ/2) z − (γ/2) v,

and the denominator the rule picks (z↑ where z > 0, z↓ where z < 0) is
``d = sign(z) · ((1 + γ/2)|z| + (γ/2) v)``, whose stabilised form is ``s(d) = sign(z)(|d| + ε)``.
The relevance ``R_in = x ∘ (W↑ᵀ g↑ + W↓ᵀ g↓)`` with ``g = R / s(d)`` (0 where z = 0) becomes

    R_in = x ∘ ((1 + γ/2) Wᵀ g + (γ/2) |W|ᵀ (sign(z) g)).

Scaling by ``2/γ`` and ``λ = (2 + γ)/γ``: keep ``q' = sign(z) / m'`` with
``m' = |z| + (|W|/λ)x + (|b| + 2ε/γ)/λ``; then ``R_in = x ∘ (Wᵀ a + (|W|/λ)ᵀ copysign(a, R))``
with ``a = R·q'`` (0 where z = 0; elsewhere ``|a| = |R| / m'``). The forward runs the ordinary
layer and one more pass (``|W|/λ``), the backward two transposed passes (the layer's own weight
and the one kept ``|W|/λ``: no copy of W), with 3 element-wise passes forward and 3 backward
instead of 6 and 4. Values equal the general form up to rounding (exact arithmetic is
the same rule); ``tests/test_rules_fast_paths.py`` compares the two.
"""

from __future__ import annotations

from typing import Any

import torch

from relscope.core.attribution.linear_ops import ConvOp, LinearOp
from relscope.core.attribution.parameter_version import parameter_version
from relscope.core.attribution.stabilizer import Stabilizer

#: the cache key of the block weight ``[λW; |W|]`` among a rule's modified parameters
_BLOCK_KEY = ("nonnegative_gamma",)


def applies(rule: Any, bounds: tuple[float, float], standard_forward: bool) -> bool:
    """True when ``rule`` (a γ rule) may take the |W| form for an input with these (min, max)."""
    op = rule.op
    low, high = bounds
    return (
        low >= 0.0
        and high > 0.0
        and rule.gamma > 0.0
        and standard_forward
        and not rule.zero_params
        and rule.output_modifiers is None
        and isinstance(rule.stabilizer, Stabilizer)
        and rule.stabilizer.adds_epsilon
        and isinstance(op, LinearOp)
        and (not isinstance(op, ConvOp) or (op.pre_pad is None and not op.transposed))
        and getattr(op, "groups", 1) == 1
    )


def block_parameters(rule: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``|W|/λ`` and the bias ``(|b| + 2ε/γ)/λ`` (cached on the rule while the layer's
    parameters are unchanged); the layer's own ``W`` is the other weight, so no copy of it is
    kept."""
    op = rule.op
    weight, bias = op.weight, op.bias
    version = parameter_version(op)
    cached = rule._blocks.get(_BLOCK_KEY)
    if cached is not None and cached[0] == version:
        return cached[1]
    gamma = rule.gamma
    scale = gamma / (2.0 + gamma)  # 1/λ
    with torch.no_grad():
        absolute = weight.abs().mul_(scale)
        shift = 2.0 * rule.stabilizer.epsilon / gamma
        if bias is None:
            abs_bias = weight.new_full((weight.shape[0],), shift * scale)
        else:
            abs_bias = bias.abs().add_(shift).mul_(scale)
    params = (absolute, abs_bias)
    rule._blocks[_BLOCK_KEY] = (version, params)
    return params


def forward(rule: Any, ctx: Any, x: torch.Tensor) -> torch.Tensor:
    """The ordinary output; keeps ``x`` and ``q' = λ sign(z) / m = sign(z) / (m/λ)``."""
    absolute, abs_bias = block_parameters(rule)
    output = rule.call_original(x)
    m = rule.op.stacked_forward(x, absolute, abs_bias)  # (|W|x + |b| + 2ε/γ) / λ
    q = torch.sign(output)
    torch.addcmul(m, output, q, out=m)  # + |z|: m/λ
    q.div_(m)
    del m
    ctx.nonnegative_gamma = True
    ctx.save(x, q)
    return output


def backward(rule: Any, ctx: Any, relevance: torch.Tensor) -> torch.Tensor:
    """``x ∘ (Wᵀ a + (|W|/λ)ᵀ copysign(a, R))`` with ``a = R·q'``."""
    x, q = ctx.saved
    absolute, _ = block_parameters(rule)
    op = rule.op
    scaled = torch.mul(relevance, q)
    del q
    signed = torch.copysign(scaled, relevance)
    result = op.stacked_vjp(scaled, op.weight, x.shape)
    del scaled
    result.add_(op.stacked_vjp(signed, absolute, x.shape))
    del signed
    return result.mul_(x)
