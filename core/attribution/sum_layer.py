"""Small modules that make implicit operations explicit, so rules can be attached to them."""

from __future__ import annotations

import torch
from torch import nn


class Sum(nn.Module):
    """Sum over axis ``dim`` of a stacked input: ``Sum()(torch.stack([a, b], dim=-1)) == a + b``.

    Canonizers put residual additions into this form; composites give it the ``norm`` rule, so the
    relevance of ``a + b`` is split between ``a`` and ``b`` in proportion to their contributions.
    ``Sum(dim=0)`` over ``torch.stack([a, b])`` adds the same values but stacks contiguous blocks
    (two copies) instead of interleaving every value with its partner (the last axis).
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the stacked summands."""
        return x.sum(dim=self.dim)

    def extra_repr(self) -> str:
        return "" if self.dim == -1 else f"dim={self.dim}"
