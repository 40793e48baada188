"""The flat rule without its stacked passes: receptive-field counts from one small layer call.

Flat replaces inputs and weights by ones (bias 0), so ``z_j = n_j``, the number of input values in
output j's receptive field. For a convolution without layer groups (zero padding) or a dense
layer that count is the same for every sample and every output channel, and every input channel
receives the same relevance:

    R_in[n, i, p] = Σ_q 1[p ∈ rf(q)] · (Σ_c R[n, c, q]) / s(n_q),

so the counts come from a batch-1, one-channel call and the backward pass sums R over the output
channels before ONE single-channel transposed call (instead of a C_in → C_out call on the whole
batch each way). Same values as the general form up to the order of the sums.
"""

from __future__ import annotations

from typing import Any

import torch

from relscope.core.attribution.linear_ops import ConvOp, LinearOp
from relscope.core.attribution.stabilizer import Stabilizer


def applies(rule: Any) -> bool:
    """True when the flat ``rule``'s layer is a dense layer or an ungrouped, zero-padded
    (not transposed) convolution, with a :class:`Stabilizer` and no output modifiers."""
    op = rule.op
    if rule.output_modifiers is not None or not isinstance(rule.stabilizer, Stabilizer):
        return False
    if isinstance(op, ConvOp):
        return op.pre_pad is None and not op.transposed and op.groups == 1
    return type(op) is LinearOp


def _geometry(op: ConvOp) -> tuple:
    """The layer's geometry for a single-channel, ungrouped call."""
    return (op.stride, op.padding, op.dilation, False, [0] * op.dims, 1)


def forward(rule: Any, ctx: Any, x: torch.Tensor) -> torch.Tensor:
    """The ordinary output; keeps the stabilised counts (shape ``(1, 1, *spatial)`` or
    ``(1,) * x.dim()``) and the input's shape."""
    op = rule.op
    output = rule.call_original(x)
    channels = op.weight.shape[1]
    with torch.no_grad():
        if isinstance(op, ConvOp):
            ones = x.new_ones((1, 1, *x.shape[2:]))
            kernel = x.new_ones((1, 1, *op.weight.shape[2:]))
            counts = torch.ops.aten.convolution(ones, kernel, None, *_geometry(op))
            counts.mul_(channels)
        else:
            counts = x.new_full((1,) * x.dim(), float(channels))
    ctx.flat_counts = True
    ctx.input_shape = x.shape
    ctx.save(rule.stabilizer.stabilize_nonnegative_(counts))
    return output


def backward(rule: Any, ctx: Any, relevance: torch.Tensor) -> torch.Tensor:
    """Relevance summed over output channels, divided by the counts, spread over each field."""
    (denominator,) = ctx.saved
    op = rule.op
    shape = ctx.input_shape
    if isinstance(op, ConvOp):
        ratio = relevance.sum(dim=1, keepdim=True).div_(denominator)
        fake_input = ratio.new_empty(1).expand((shape[0], 1, *shape[2:]))
        kernel = ratio.new_ones((1, 1, *op.weight.shape[2:]))
        spread = torch.ops.aten.convolution_backward(
            ratio, fake_input, kernel, None, *_geometry(op), [True, False, False]
        )[0]
    else:
        spread = relevance.sum(dim=-1, keepdim=True).div_(denominator)
    return spread.expand(shape).contiguous()
