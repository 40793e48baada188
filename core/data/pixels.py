"""Pixel conventions of the file formats: channel axis detection and value-range guessing.

A sample whose first axis is its smallest is channels-first; a 2-D sample is grayscale. Stored
images are un-normalised; their range is one of [-1, 1], [0, 1], [0, 255] (uint8 taken as is).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: the value ranges a stored image may use, in the order they are preferred on a tie
VALUE_RANGES: tuple[tuple[float, float], ...] = ((-1.0, 1.0), (0.0, 1.0), (0.0, 255.0))


def is_channels_first(shape: tuple[int, ...]) -> bool:
    """True when a 3-D sample of ``shape`` keeps its channels on the first axis."""
    return len(shape) == 3 and int(np.argmin(shape)) == 0


def to_channels_last(sample: np.ndarray) -> np.ndarray:
    """(C, H, W), (H, W, C) or (H, W) -> (H, W, C)."""
    if sample.ndim == 2:
        return sample[:, :, None]
    if sample.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D sample, got shape {sample.shape}")
    return np.moveaxis(sample, 0, -1) if is_channels_first(sample.shape) else sample


def to_channels_first(sample: np.ndarray) -> np.ndarray:
    """(C, H, W), (H, W, C) or (H, W) -> (C, H, W)."""
    if sample.ndim == 2:
        return sample[None]
    if sample.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D sample, got shape {sample.shape}")
    return sample if is_channels_first(sample.shape) else np.moveaxis(sample, -1, 0)


def guess_value_range(samples: Iterable[np.ndarray]) -> tuple[float, float]:
    """The stored range closest (L1 over min and max) to the samples' overall min and max."""
    lowest, highest = np.inf, -np.inf
    for sample in samples:
        if sample.dtype == np.uint8:
            return (0.0, 255.0)
        if sample.size:
            lowest = min(lowest, float(np.min(sample)))
            highest = max(highest, float(np.max(sample)))
    if not np.isfinite(lowest):
        return (0.0, 1.0)
    distances = [abs(lo - lowest) + abs(hi - highest) for lo, hi in VALUE_RANGES]
    return VALUE_RANGES[int(np.argmin(distances))]


def to_unit_range(sample: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map a stored sample from ``value_range`` to float32 [0, 1] (clipped)."""
    lo, hi = value_range
    out = (np.asarray(sample, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)
