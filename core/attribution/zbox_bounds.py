"""The z^B rule with bounds that are the same for every sample (per-channel pixel bounds).

``d = Wx − W⁺l − W⁻h``: with the ordinary output ``z = Wx + b``, ``d = z − c`` for
``c = W⁺l + W⁻h + b``, which does not depend on the sample when ``l`` and ``h`` do not, so it is
computed by one batch-1 call. Backward, ``W⁻ᵀg = Wᵀg − W⁺ᵀg`` gives

    R_in = x∘Wᵀg − l∘W⁺ᵀg − h∘W⁻ᵀg = (x − h)∘Wᵀg + (h − l)∘W⁺ᵀg:

two transposed passes (one stacked call) instead of three, and one forward pass (the layer's
own) instead of four. Same rule; values agree with the general form up to rounding.
"""

from __future__ import annotations

from typing import Any

import torch

from relscope.core.attribution.linear_ops import ConvOp, LinearOp, expand_bound
from relscope.core.attribution.parameter_version import parameter_version
from relscope.core.attribution.stabilizer import Stabilizer

_FORWARD_KEY = ("zbox_forward",)
_BACKWARD_KEY = ("zbox_backward",)


def _batch_constant(bound: Any, x: torch.Tensor) -> bool:
    tensor = torch.as_tensor(bound)
    return tensor.dim() < x.dim() or tensor.shape[0] == 1


def applies(rule: Any, x: torch.Tensor, standard_forward: bool) -> bool:
    """True when the z^B ``rule`` may take this form for input ``x``."""
    op = rule.op
    if not standard_forward or rule.zero_params or rule.output_modifiers is not None:
        return False
    if isinstance(op, ConvOp):
        if op.pre_pad is not None or op.transposed or op.groups != 1:
            return False
    elif type(op) is not LinearOp:
        return False
    return _batch_constant(rule.low, x) and _batch_constant(rule.high, x)


def _cached(rule: Any, key: tuple, build: Any) -> torch.Tensor:
    weight = rule.op.weight
    version = parameter_version(rule.op)
    cached = rule._blocks.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    with torch.no_grad():
        value = build(weight)
    rule._blocks[key] = (version, value)
    return value


def forward(rule: Any, ctx: Any, x: torch.Tensor) -> torch.Tensor:
    """The ordinary output; keeps ``x`` and ``s(z − c)``."""
    op = rule.op
    output = rule.call_original(x)
    first = x[:1]
    with torch.no_grad():
        bounds = op.stack_inputs(
            [expand_bound(rule.low, first, "zbox low bound"),
             expand_bound(rule.high, first, "zbox high bound")]
        )  # fmt: skip
        weight = _cached(
            rule, _FORWARD_KEY, lambda w: op.block_weight([[w.clamp(min=0), w.clamp(max=0)]])
        )
        shift = op.stacked_forward(bounds, weight, op.bias)  # W⁺l + W⁻h + b, batch 1
        difference = torch.sub(output, shift)
    stabilizer = rule.stabilizer
    if isinstance(stabilizer, Stabilizer):
        denominator = stabilizer.stabilize_(difference)
    else:
        denominator = stabilizer(difference)
    ctx.zbox_bounds = True
    ctx.save(x, denominator)
    return output


def backward(rule: Any, ctx: Any, relevance: torch.Tensor) -> torch.Tensor:
    """``(x − h)∘Wᵀg + (h − l)∘W⁺ᵀg`` with ``g = R / s(d)``."""
    x, denominator = ctx.saved
    op = rule.op
    grad = torch.div(relevance, denominator)
    del denominator
    weight = _cached(rule, _BACKWARD_KEY, lambda w: op.block_weight([[w, w.clamp(min=0)]]))
    stacked = op.stacked_vjp(grad, weight, op.stacked_shape(x.shape, 2))
    del grad
    plain, positive = op.split_inputs(stacked, 2)
    high = expand_bound(rule.high, x, "zbox high bound")
    low = expand_bound(rule.low, x[:1], "zbox low bound")
    span = expand_bound(rule.high, x[:1], "zbox high bound") - low
    result = torch.sub(x, high).mul_(plain)
    return result.addcmul_(positive, span)
