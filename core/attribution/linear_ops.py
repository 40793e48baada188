"""Batched arithmetic of linear layers for the rules: stacked modified passes and their VJPs.

A rule for a linear layer computes ``z_p = Σ_i f(x_i; W_pi) + b_p`` for P output groups and m
input terms, then ``G_i = Σ_p J(W_pi)ᵀ g_p``. An op stacks the m inputs along the input-channel axis
and builds one block weight, so all P·m passes run as ONE layer call (output channels P-fold) and
all VJPs as ONE transposed call. Layer groups (``groups=g``) are kept block diagonal.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from relscope.core.errors import AttributionError


class LinearOp:
    """Stacking helpers for one linear layer (base: fully connected)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    @property
    def weight(self) -> torch.Tensor:
        """The layer's weight."""
        return self.module.weight

    @property
    def bias(self) -> torch.Tensor | None:
        """The layer's bias, or None."""
        return self.module.bias

    # -- inputs ---------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        """Raise when ``x`` is not an input the stacked passes handle."""

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the stacked passes see (padded input for non-zero padding modes)."""
        return x

    def input_adjoint(self, relevance: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Map relevance on :meth:`prepare_input`'s result back onto ``x``."""
        return relevance

    def stack_inputs(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate the input terms along the feature axis."""
        return xs[0] if len(xs) == 1 else torch.cat(list(xs), dim=-1)

    def split_inputs(self, stacked: torch.Tensor, count: int) -> list[torch.Tensor]:
        """Inverse of :meth:`stack_inputs`."""
        return list(stacked.chunk(count, dim=-1)) if count > 1 else [stacked]

    def stacked_shape(self, shape: torch.Size, count: int) -> torch.Size:
        """Shape of ``count`` stacked inputs of ``shape``."""
        return torch.Size((*shape[:-1], shape[-1] * count))

    # -- outputs --------------------------------------------------------------------------------
    def split_outputs(self, stacked: torch.Tensor, count: int) -> list[torch.Tensor]:
        """The P output groups of a stacked output."""
        return list(stacked.chunk(count, dim=-1)) if count > 1 else [stacked]

    def stack_outputs(self, gs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate per-group output gradients like the stacked output."""
        return gs[0] if len(gs) == 1 else torch.cat(list(gs), dim=-1)

    def output_buffer(
        self, like: torch.Tensor, count: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """An empty stacked-output buffer and its P group views (to write gradients into)."""
        buffer = like.new_empty((*like.shape[:-1], like.shape[-1] * count))
        return buffer, list(buffer.chunk(count, dim=-1))

    # -- parameters -----------------------------------------------------------------------------
    def weight_out_features(self) -> int:
        """The number of outputs (output channels) of the layer."""
        return self.module.weight.shape[0]

    def block_weight(self, blocks: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """One weight from ``blocks[p][i]`` (output group p, input term i)."""
        if len(blocks) == 1 and len(blocks[0]) == 1:
            return blocks[0][0]
        return torch.cat([torch.cat(list(row), dim=1) for row in blocks], dim=0)

    def block_bias(self, biases: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
        """One bias from the per-group biases (None when the layer has none)."""
        if any(b is None for b in biases):
            return None
        return biases[0] if len(biases) == 1 else torch.cat(list(biases), dim=0)

    def block_views(
        self, weight: torch.Tensor, groups: int, terms: int
    ) -> tuple[torch.Tensor, list[list[torch.Tensor]]] | None:
        """An empty block weight for ``groups`` x ``terms`` blocks and, per block, the view shaped
        like ``weight`` that :meth:`block_weight` would fill from it (None: no such views)."""
        out, inp = weight.shape
        block = weight.new_empty((groups * out, terms * inp))
        views = [
            [block[p * out : (p + 1) * out, i * inp : (i + 1) * inp] for i in range(terms)]
            for p in range(groups)
        ]
        return block, views

    # -- arithmetic -----------------------------------------------------------------------------
    def stacked_forward(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """The layer applied with a block weight."""
        return F.linear(x, weight, bias)

    def stacked_vjp(
        self, grad: torch.Tensor, weight: torch.Tensor, input_shape: torch.Size
    ) -> torch.Tensor:
        """``Jᵀ grad`` of the block layer, shaped like the stacked input."""
        return grad.matmul(weight)


def _tuple(value: int | Sequence[int], dims: int) -> list[int]:
    return [value] * dims if isinstance(value, int) else list(value)


class ConvOp(LinearOp):
    """Stacking helpers for Conv{1,2,3}d and ConvTranspose{1,2,3}d (any groups, strides, padding)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__(module)
        self.transposed = isinstance(module, nn.modules.conv._ConvTransposeNd)
        self.dims = len(module.kernel_size)
        self.groups = module.groups
        self.stride = _tuple(module.stride, self.dims)
        self.dilation = _tuple(module.dilation, self.dims)
        self.output_padding = _tuple(getattr(module, "output_padding", 0), self.dims)
        self.pre_pad: list[int] | None = None
        self.pad_mode = "constant"
        padding = module.padding
        if isinstance(padding, str):
            if padding == "valid":
                padding = [0] * self.dims
            else:  # "same": total dilation*(k-1), the extra one on the right
                totals = [d * (k - 1) for d, k in zip(self.dilation, module.kernel_size)]
                left = [t // 2 for t in totals]
                if any(t % 2 for t in totals):
                    self.pre_pad = []
                    for t, lo in zip(reversed(totals), reversed(left)):
                        self.pre_pad += [lo, t - lo]
                    padding = [0] * self.dims
                else:
                    padding = left
        padding = _tuple(padding, self.dims)
        if getattr(module, "padding_mode", "zeros") != "zeros":
            self.pad_mode = module.padding_mode
            self.pre_pad = [p for p in reversed(padding) for _ in range(2)]
            padding = [0] * self.dims
        self.padding = padding

    def weight_out_features(self) -> int:
        """The number of output channels (a transposed weight is ``(in, out / groups, ...)``)."""
        weight = self.module.weight
        return weight.shape[1] * self.groups if self.transposed else weight.shape[0]

    def _geometry(self) -> tuple:
        """(stride, padding, dilation, transposed, output_padding, groups) as aten's convolution
        and convolution_backward take them."""
        output_padding = self.output_padding if self.transposed else [0] * self.dims
        return (
            self.stride,
            self.padding,
            self.dilation,
            self.transposed,
            output_padding,
            self.groups,
        )

    # -- inputs ---------------------------------------------------------------------------------
    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Pad explicitly when the layer pads asymmetrically or not with zeros."""
        if self.pre_pad is None:
            return x
        return F.pad(x, self.pre_pad, mode=self.pad_mode)

    def input_adjoint(self, relevance: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Fold relevance of padded positions back onto the pixels they copy (adjoint of pad)."""
        if self.pre_pad is None:
            return relevance
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            padded = F.pad(leaf, self.pre_pad, mode=self.pad_mode)
            (grad,) = torch.autograd.grad(padded, leaf, grad_outputs=relevance)
        return grad

    def _channel_view(self, t: torch.Tensor, count: int) -> torch.Tensor:
        # (N, g*count*c, *S) -> (N, g, count, c, *S)
        return t.view(t.shape[0], self.groups, count, -1, *t.shape[2:])

    def stack_inputs(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate input terms along channels, interleaved per layer group."""
        if len(xs) == 1:
            return xs[0]
        if self.groups == 1:
            return torch.cat(list(xs), dim=1)
        parts = [x.reshape(x.shape[0], self.groups, 1, -1, *x.shape[2:]) for x in xs]
        stacked = torch.cat(parts, dim=2)
        return stacked.view(stacked.shape[0], -1, *stacked.shape[4:])

    def stacked_shape(self, shape: torch.Size, count: int) -> torch.Size:
        """Shape of ``count`` inputs of ``shape`` stacked along channels."""
        return torch.Size((shape[0], shape[1] * count, *shape[2:]))

    def split_inputs(self, stacked: torch.Tensor, count: int) -> list[torch.Tensor]:
        """Inverse of :meth:`stack_inputs`."""
        if count == 1:
            return [stacked]
        if self.groups == 1:
            return list(stacked.chunk(count, dim=1))
        view = self._channel_view(stacked, count)
        return [
            view[:, :, i].reshape(stacked.shape[0], -1, *stacked.shape[2:]) for i in range(count)
        ]

    def split_outputs(self, stacked: torch.Tensor, count: int) -> list[torch.Tensor]:
        """The P output groups of a stacked output."""
        return self.split_inputs(stacked, count)

    def stack_outputs(self, gs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Concatenate per-group output gradients like the stacked output."""
        return self.stack_inputs(gs)

    def output_buffer(
        self, like: torch.Tensor, count: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """An empty stacked-output buffer and its P group views (None with layer groups, whose
        stacked channels interleave)."""
        if self.groups != 1 and count > 1:
            return None
        buffer = like.new_empty((like.shape[0], like.shape[1] * count, *like.shape[2:]))
        return buffer, list(buffer.chunk(count, dim=1))

    # -- parameters -----------------------------------------------------------------------------
    def block_weight(self, blocks: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """Block weight: output channels (g, P, c_out), input channels (g, m, c_in)."""
        if len(blocks) == 1 and len(blocks[0]) == 1:
            return blocks[0][0]
        g = self.groups
        kernel = blocks[0][0].shape[2:]
        if not self.transposed:  # weight (C_out, C_in/g, *k)
            rows = [
                torch.stack([w.reshape(g, -1, w.shape[1], *kernel) for w in row], dim=2)
                for row in blocks
            ]  # each (g, c_out, m, c_in, *k)
            block = torch.stack(rows, dim=1)  # (g, P, c_out, m, c_in, *k)
            return block.reshape(g * len(blocks) * block.shape[2], -1, *kernel)
        # transposed: weight (C_in, C_out/g, *k)
        rows = [
            torch.stack([w.reshape(g, -1, w.shape[1], *kernel) for w in row], dim=1)
            for row in blocks
        ]  # each (g, m, c_in, c_out, *k)
        block = torch.stack(rows, dim=3)  # (g, m, c_in, P, c_out, *k)
        return block.reshape(g * block.shape[1] * block.shape[2], -1, *kernel)

    def block_views(
        self, weight: torch.Tensor, groups: int, terms: int
    ) -> tuple[torch.Tensor, list[list[torch.Tensor]]] | None:
        """Views of an empty block weight (ungrouped, not transposed convolutions only: others
        interleave their blocks)."""
        if self.transposed or self.groups != 1:
            return None
        out, inp, *kernel = weight.shape
        block = weight.new_empty((groups * out, terms * inp, *kernel))
        views = [
            [block[p * out : (p + 1) * out, i * inp : (i + 1) * inp] for i in range(terms)]
            for p in range(groups)
        ]
        return block, views

    def block_bias(self, biases: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
        """Block bias ordered like the stacked output channels (g, P, c_out)."""
        if any(b is None for b in biases):
            return None
        if len(biases) == 1:
            return biases[0]
        return torch.stack([b.view(self.groups, -1) for b in biases], dim=1).reshape(-1)

    # -- arithmetic -----------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        """Rules need batched input: (N, C, *spatial)."""
        if x.dim() != self.dims + 2:
            raise AttributionError(
                f"rules on {type(self.module).__name__} need a batched {self.dims + 2}-d input "
                f"(N, C, ...), got shape {tuple(x.shape)}"
            )

    def stacked_forward(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """The layer applied with a block weight."""
        return torch.ops.aten.convolution(x, weight, bias, *self._geometry())

    def stacked_vjp(
        self, grad: torch.Tensor, weight: torch.Tensor, input_shape: torch.Size
    ) -> torch.Tensor:
        """``Jᵀ grad`` of the block layer (input gradient only), shaped like the stacked input."""
        fake_input = grad.new_empty(1).expand(tuple(input_shape))
        return torch.ops.aten.convolution_backward(
            grad, fake_input, weight, None, *self._geometry(), [True, False, False]
        )[0]


def linear_op(module: nn.Module) -> LinearOp | None:
    """The op for ``module``, or None when it is not a linear layer the rules know."""
    if isinstance(module, nn.Linear):
        return LinearOp(module)
    if isinstance(module, nn.modules.conv._ConvNd):
        return ConvOp(module)
    return None


def expand_bound(bound: torch.Tensor | float, x: torch.Tensor, what: str) -> torch.Tensor:
    """Broadcast a scalar or tensor bound to ``x``'s shape (torch's broadcasting rules).

    Per-channel bounds of images are given as shape ``(1, C, 1, 1)`` or ``(C, 1, 1)``.
    """
    tensor = torch.as_tensor(bound, dtype=x.dtype, device=x.device)
    try:
        return torch.broadcast_to(tensor, x.shape)
    except RuntimeError:
        raise AttributionError(
            f"{what} of shape {tuple(tensor.shape)} cannot broadcast to the layer input of shape "
            f"{tuple(x.shape)}; give a float or a tensor such as shape (1, C, 1, 1)"
        ) from None
