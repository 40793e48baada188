"""Small modules that make implicit operations explicit, so rules can be attached to them."""

from __future__ import annotations

import torch
from torch import nn


class Sum(nn.Module):
    """Sum over axis ``dim`` of a stacked input: ``Sum()(torch.stack([a, b], dim=-1)) == a + b``.

    Canonizers put residual additions into this form; composites give it the ``norm`` rule, so the
    relevance of ``a + b`` is split between ``a`` and ``b`` in proportion to their contributions.
    ``Sum(dim=0)`` over ``torch.stack([a, b])`` adds the same values but stacks contiguous blocks
    (two copies) instead of interleaving every value with its partner (the last axis). Called with
    the summands themselves (``Sum()(a, b)``, same shapes) it adds them with no stack at all; the
    ``norm`` rule then keeps the summands as they are.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> torch.Tensor:
        """Add the stacked summands; given several tensors (``Sum()(a, b)``), add those: the same
        as summing ``torch.stack([a, b], dim)``, without the stacking copy."""
        if not more:
            return x.sum(dim=self.dim)
        total = x + more[0]
        for summand in more[1:]:
            total = total + summand
        return total

    def extra_repr(self) -> str:
        return "" if self.dim == -1 else f"dim={self.dim}"
