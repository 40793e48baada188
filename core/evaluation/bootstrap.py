"""Percentile-bootstrap confidence intervals of means over samples (seeded, vectorised)."""

from __future__ import annotations

import numpy as np

from relscope.core.errors import EvaluationError


def bootstrap_mean_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 of ``values`` (N, ...) and its ``level`` percentile-bootstrap interval
    (``resamples`` resamplings of the N rows with replacement): (mean, low, high)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        raise EvaluationError("bootstrap: no samples")
    if not 0 < level < 1:
        raise EvaluationError(f"bootstrap: level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    count = values.shape[0]
    flat = values.reshape(count, -1)
    means = np.empty((resamples, flat.shape[1]))
    for start in range(0, resamples, 100):  # bounded memory for long curves
        picks = rng.integers(0, count, size=(min(100, resamples - start), count))
        means[start : start + len(picks)] = flat[picks].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    shape = values.shape[1:]
    return flat.mean(0).reshape(shape), low.reshape(shape), high.reshape(shape)
