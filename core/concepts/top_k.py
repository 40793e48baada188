"""Per-channel top-k of a stream of (samples x channels) scores, in memory bounded by k."""

from __future__ import annotations

import numpy as np


class TopK:
    """The ``k`` largest scores per channel seen so far, with the sample index of each.

    :meth:`update` takes one batch (``scores`` (B, C), ``indices`` (B,)); memory stays
    (C, k) whatever the number of batches. Ties keep the earlier sample (stable order).
    """

    def __init__(self, channels: int, k: int) -> None:
        if k < 1:
            raise ValueError(f"top-k needs k >= 1, not {k}")
        self.k = k
        self.values = np.full((channels, 0), -np.inf, dtype=np.float64)
        self.indices = np.full((channels, 0), -1, dtype=np.int64)

    def update(self, scores: np.ndarray, indices: np.ndarray) -> None:
        """Merge one batch of scores (B, C) for samples ``indices`` (B,) into the buffers."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != self.values.shape[0]:
            raise ValueError(f"expected scores (B, {self.values.shape[0]}), got {scores.shape}")
        values = np.concatenate([self.values, scores.T], axis=1)
        index = np.concatenate(
            [self.indices, np.broadcast_to(np.asarray(indices, np.int64), scores.T.shape)], axis=1
        )
        order = np.argsort(-values, axis=1, kind="stable")[:, : self.k]
        self.values = np.take_along_axis(values, order, axis=1)
        self.indices = np.take_along_axis(index, order, axis=1)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(values (C, k), indices (C, k)), best first; -1 / -inf pad when fewer than k samples."""
        channels, have = self.values.shape
        values = np.full((channels, self.k), -np.inf)
        indices = np.full((channels, self.k), -1, dtype=np.int64)
        values[:, :have], indices[:, :have] = self.values, self.indices
        return values, indices
