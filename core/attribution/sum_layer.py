"""Small modules that make implicit operations explicit, so rules can be attached to them."""

from __future__ import annotations

import torch
from torch import nn


class Sum(nn.Module):
    """Sum over the last axis of a stacked input: ``Sum()(torch.stack([a, b], dim=-1)) == a + b``.

    Canonizers put residual additions into this form; composites give it the ``norm`` rule, so the
    relevance of ``a + b`` is split between ``a`` and ``b`` in proportion to their contributions.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the stacked summands."""
        return x.sum(dim=-1)
