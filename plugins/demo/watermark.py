"""A Clever-Hans shortcut for the demo: a small fixed pattern stamped into a corner of some images."""

from __future__ import annotations

import numpy as np

#: the pattern (1 = bright pixel), stamped at rows/cols ``WATERMARK_OFFSET`` of a 32×32 image
WATERMARK_PATTERN = np.array(
    [
        [1, 0, 1, 0, 1],
        [0, 1, 0, 1, 0],
        [1, 0, 1, 0, 1],
        [0, 1, 0, 1, 0],
        [1, 0, 1, 0, 1],
    ],
    dtype=np.float32,
)
WATERMARK_OFFSET = (1, 1)


def watermark_region(height: int = 32, width: int = 32) -> np.ndarray:
    """A boolean (H, W) mask of the pixels the watermark covers."""
    mask = np.zeros((height, width), dtype=bool)
    top, left = WATERMARK_OFFSET
    rows, cols = WATERMARK_PATTERN.shape
    mask[top : top + rows, left : left + cols] = True
    return mask


def stamp_watermark(images: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Copy of ``images`` (N, C, H, W) in [0, 1] with the pattern stamped on the rows ``which`` marks."""
    stamped = images.copy()
    top, left = WATERMARK_OFFSET
    rows, cols = WATERMARK_PATTERN.shape
    region = stamped[which, :, top : top + rows, left : left + cols]
    stamped[which, :, top : top + rows, left : left + cols] = np.maximum(region, WATERMARK_PATTERN)
    return stamped


def choose_watermarked(
    labels: np.ndarray, target_class: int, rate_in_class: float, rate_elsewhere: float, seed: int
) -> np.ndarray:
    """Boolean (N,) choice: ``rate_in_class`` of ``target_class`` and ``rate_elsewhere`` of the rest."""
    rng = np.random.default_rng(seed)
    draws = rng.random(labels.shape[0])
    rates = np.where(labels == target_class, rate_in_class, rate_elsewhere)
    return draws < rates
