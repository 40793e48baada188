"""Squeeze-and-excitation gates: relevance goes to the gated signal, none to the gate.

torchvision's ``SqueezeExcitation`` returns ``scale * input``, where ``scale`` is computed from
``input`` itself. Left to the gradient, that product multiplies the relevance by the gate and
sends a second share into the gate branch, so relevance is neither conserved nor meaningful. The
usual LRP treatment of multiplicative gates ("signal-take-all", Arras et al. 2017) takes the gate
as a constant: the product is then a diagonal linear map whose epsilon/norm rule gives all
relevance to the signal. This canonizer puts such a :class:`GatedProduct` in every block.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision.ops.misc import SqueezeExcitation

from relscope.core.attribution.attribute_canonizer import AttributeCanonizer


class _SignalTakeAll(torch.autograd.Function):
    """Forward ``gate * signal``; backward: all relevance to the signal, none to the gate."""

    @staticmethod
    def forward(ctx: Any, signal: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return gate * signal

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class GatedProduct(nn.Module):
    """``gate * signal`` whose relevance all goes to ``signal`` (the gate is taken as constant)."""

    def forward(self, signal: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """The gated signal; its backward passes relevance to ``signal`` only."""
        if torch.broadcast_shapes(signal.shape, gate.shape) != signal.shape:
            raise ValueError(
                f"GatedProduct: gate {tuple(gate.shape)} must broadcast to the signal "
                f"{tuple(signal.shape)}"
            )
        return _SignalTakeAll.apply(signal, gate)


def _squeeze_excitation_forward(self: SqueezeExcitation, x: torch.Tensor) -> torch.Tensor:
    """torchvision's SqueezeExcitation.forward with the product through ``gated_product``."""
    return self.gated_product(x, self._scale(x))


class SqueezeExcitationCanonizer(AttributeCanonizer):
    """Route the relevance of torchvision squeeze-excitation blocks to the signal (not the gate)."""

    name = "squeeze_excitation"

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """A gated-product forward for SqueezeExcitation instances with torchvision's forward."""
        if (
            isinstance(module, SqueezeExcitation)
            and type(module).forward is SqueezeExcitation.forward
        ):
            return {
                "gated_product": GatedProduct(),
                "forward": types.MethodType(_squeeze_excitation_forward, module),
            }
        return None

    def copy(self) -> SqueezeExcitationCanonizer:
        """A fresh, unregistered instance."""
        return type(self)()
