"""Perturbable positions of a batch: pixels (all channels together), k×k patches, or tokens.

A :class:`PositionLayout` ranks positions by the attribution summed over channels (and over each
region), and turns "the first m ranked positions" into an element mask of the input's shape.
"""

from __future__ import annotations

import math

import attrs
import torch

from relscope.core.errors import EvaluationError


@attrs.frozen
class PositionLayout:
    """How the elements of one input map onto ``count`` positions (``position_of``: per element of
    the spatial shape, its position number) and which input axis holds channels, if any."""

    kind: str  # "image" | "tokens"
    spatial: tuple[int, ...]
    region: int
    position_of: torch.Tensor  # long, shape ``spatial``
    count: int

    def scores(self, attributions: torch.Tensor) -> torch.Tensor:
        """(N, count) attribution per position: summed over channels and over each region."""
        flat = attributions.reshape(attributions.shape[0], -1)
        out = torch.zeros(flat.shape[0], self.count, dtype=flat.dtype, device=flat.device)
        return out.index_add_(1, self.position_of.reshape(-1).to(flat.device), flat)

    def element_mask(self, positions: torch.Tensor) -> torch.Tensor:
        """(R, count) bool per position -> (R, *spatial) bool per element."""
        if self.region == 1:  # one element per position, in order
            return positions.reshape(positions.shape[0], *self.spatial)
        index = self.position_of.reshape(-1).to(positions.device)
        return positions[:, index].reshape(positions.shape[0], *self.spatial)


def _region_map(spatial: tuple[int, ...], region: int) -> tuple[torch.Tensor, int]:
    grids = [math.ceil(size / region) for size in spatial]
    axes = [torch.arange(size) // region for size in spatial]
    if len(spatial) == 1:
        return axes[0], grids[0]
    rows, cols = torch.meshgrid(axes[0], axes[1], indexing="ij")
    return rows * grids[1] + cols, grids[0] * grids[1]


def layout_for(
    inputs: torch.Tensor, attributions: torch.Tensor, region: int = 1
) -> tuple[PositionLayout, torch.Tensor]:
    """The layout of ``inputs`` and ``attributions`` reduced to the layout's spatial shape.

    Images (N, C, H, W) take attributions (N, C, H, W), (N, 1, H, W) or (N, H, W); tokens (N, T)
    take (N, T); token features (N, T, D) take (N, T, D) or (N, T). Anything else is an error.
    """
    if isinstance(region, bool) or not isinstance(region, int) or region < 1:
        raise EvaluationError(f"region must be a positive integer, got {region!r}")
    shape, given = tuple(inputs.shape), tuple(attributions.shape)
    if inputs.dim() == 4:
        kind, spatial = "image", shape[2:]
        allowed = {shape, (shape[0], 1, *spatial), (shape[0], *spatial)}
    elif inputs.dim() in (2, 3):
        kind, spatial = "tokens", shape[1:2]
        allowed = {shape, shape[:2]}
    else:
        raise EvaluationError(
            f"inputs must be images (N, C, H, W) or tokens (N, T) / (N, T, D), got shape {shape}"
        )
    if given not in allowed:
        expected = " or ".join(str(s) for s in sorted(allowed, key=len, reverse=True))
        raise EvaluationError(
            f"attributions of shape {given} do not match inputs of shape {shape} "
            f"(expected {expected})"
        )
    reduced = attributions
    if kind == "image" and attributions.dim() == 4:
        reduced = attributions.sum(1)
    elif kind == "tokens" and attributions.dim() == 3:
        reduced = attributions.sum(2)
    if region > max(spatial):
        raise EvaluationError(f"region {region} is larger than the input ({spatial})")
    position_of, count = _region_map(spatial, region)
    return PositionLayout(kind, spatial, region, position_of, count), reduced


def rank_positions(scores: torch.Tensor, order: str) -> torch.Tensor:
    """(N, P) rank of every position: 0 = perturbed first. MoRF: highest score first, LeRF: lowest
    first; ties go to the lower position index in both."""
    if order not in ("morf", "lerf"):
        raise EvaluationError(f"order must be 'morf' or 'lerf', got {order!r}")
    ordering = torch.sort(scores, dim=1, descending=order == "morf", stable=True).indices
    ranks = torch.empty_like(ordering)
    steps = torch.arange(scores.shape[1], device=scores.device).expand_as(ordering)
    return ranks.scatter_(1, ordering, steps)
