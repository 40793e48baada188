"""Relevance pass-through: let relevance cross an element-wise-like operation unchanged.

Some operations have no LRP rule of their own but act on each value separately once their
statistics are taken as given, like batch norm in eval mode: layer normalisation (its mean and
deviation treated as constants) and fixed per-channel input transforms. The spec's ``pass`` rule
(``R_in = R``) applies to them. :func:`relevance_pass` computes the operation's output as usual and
hands the incoming relevance (gradient) to the input unchanged; :class:`PassThroughCanonizer`
installs it on every module of the given types.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attribute_canonizer import AttributeCanonizer


class _PassRelevance(torch.autograd.Function):
    """Forward: ``output`` as given; backward: the incoming gradient goes to ``x`` unchanged."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        ctx.input_shape = x.shape
        return output.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.reshape(ctx.input_shape), None


@torch.fx.wrap
def relevance_pass(x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``output`` (computed from ``x`` element-wise), with the relevance passed to ``x`` unchanged."""
    if output.shape != x.shape:
        raise ValueError(
            f"relevance_pass needs an output shaped like its input: {tuple(output.shape)} vs "
            f"{tuple(x.shape)}"
        )
    return _PassRelevance.apply(x, output.detach())


def _pass_forward(original: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            output = original(x)
        return relevance_pass(x, output)

    return forward


class PassThroughCanonizer(AttributeCanonizer):
    """Make modules of ``types`` (default: LayerNorm) pass relevance through unchanged.

    Their output is bit-identical; only the backward changes (the spec's ``pass`` rule), the same
    treatment composites give batch norm. Used for ConvNeXt's layer norms.
    """

    name = "layer_norm_pass"

    def __init__(self, types: tuple[type[nn.Module], ...] = (nn.LayerNorm,)) -> None:
        super().__init__()
        self.types = tuple(types)

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """A pass-through forward for modules of the configured types."""
        if isinstance(module, self.types) and "forward" not in module.__dict__:
            return {"forward": types.MethodType(_pass_forward(module.forward), module)}
        return None

    def copy(self) -> PassThroughCanonizer:
        """A fresh, unregistered instance with the same types."""
        return type(self)(self.types)
