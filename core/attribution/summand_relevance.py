"""The ``norm`` rule on a :class:`Sum` called with its summands one by one (``Sum()(a, b)``).

``R_k = x_k ∘ R / s(Σ_k x_k)``, as for the stacked form, but the summands are added directly and
kept as they are (no stacking copy, no stacked tensor held for the backward pass): the forward
pass is the addition plus the two passes of the denominator, the backward pass one division and
one product per summand.
"""

from __future__ import annotations

from typing import Any

import torch

from relscope.core.attribution.stabilizer import Stabilizer


def denominator(stabilizer: Any, z: torch.Tensor) -> torch.Tensor:
    """``s(z)`` as a new tensor; for the plain stabiliser ``z + copysign(ε, z)`` in two passes.

    That form gives ``-ε`` at ``z = -0.0`` where ``s`` has ``+ε``; for a sum this never changes a
    result: a sum is ``-0.0`` only when every summand is ``-0.0``, and each summand's relevance
    is that summand times ``R / s(z)``, a zero either way.
    """
    if isinstance(stabilizer, Stabilizer) and stabilizer.adds_epsilon:
        shifted = torch.copysign(z.new_tensor(stabilizer.epsilon), z)
        return shifted.add_(z)
    return stabilizer(z)


class SummandRelevance(torch.autograd.Function):
    """Adds the summands; on the way back, each summand's share of the relevance."""

    @staticmethod
    def forward(ctx: Any, rule: Any, *summands: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        total = summands[0] + summands[1]
        for summand in summands[2:]:
            total = total + summand
        ctx.save_for_backward(denominator(rule.stabilizer, total), *summands)
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        scale, *summands = ctx.saved_tensors
        ratio = torch.div(relevance, scale)
        del scale
        needs = ctx.needs_input_grad[1:]
        shares = [x * ratio if need else None for x, need in zip(summands, needs)]
        return (None, *shares)


def summands_apply(module: Any, args: tuple) -> bool:
    """True when ``args`` are the tensor summands of ``module`` (a plain :class:`Sum`) of one
    shape, and a gradient will flow to one of them."""
    if len(args) < 2 or not all(isinstance(a, torch.Tensor) for a in args):
        return False
    if not torch.is_grad_enabled() or not any(a.requires_grad for a in args):
        return False
    return len({(a.shape, a.dtype) for a in args}) == 1
