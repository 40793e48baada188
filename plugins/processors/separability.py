"""How well the clusters of each clustering separate in the eigen-embedding (Fisher's ratio).

The score of a clustering is the smallest Fisher discriminant ratio over its pairs of clusters,
each pair projected on the line joining their centroids in the eigen-embedding:
``J(a, b) = |mu_a - mu_b|^2 / (var_a(w) + var_b(w))``. A category whose attributions fall into
distinct groups (a Clever-Hans sub-strategy) scores high; a blob cut into pieces scores low, for
any number of pieces. See ``docs/analysis.md`` (Class ranking) for why this score and not a
classifier's accuracy.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, processor
from relscope.core.analysis.layout import split_outputs
from relscope.core.errors import ProcessorError

#: the within-cluster variance floor, relative to the category's total variance (keeps two
#: clusters of identical points finite)
VARIANCE_FLOOR = 1e-9


class ZeroVarianceWarning(UserWarning):
    """A category's attributions are all equal: every separability score is 0."""


def fisher_separability(vectors: np.ndarray, labels: np.ndarray, min_size: int = 2) -> float | None:
    """The smallest pairwise Fisher ratio of the clusters ``labels`` (noise -1 left out) in the
    rows ``vectors``; None when fewer than two clusters have ``min_size`` members."""
    points = np.asarray(vectors, dtype=np.float64)
    labels = np.asarray(labels)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    ids = ids[counts >= min_size]
    if len(ids) < 2:
        return None
    members = [points[labels == i] for i in ids]
    kept = np.concatenate(members)
    total = float(((kept - kept.mean(axis=0)) ** 2).sum(axis=1).mean())
    if not total > 0:
        return 0.0
    floor = VARIANCE_FLOOR * total
    means = np.stack([m.mean(axis=0) for m in members])
    covariances = [np.cov(m, rowvar=False, bias=True).reshape(points.shape[1], -1) for m in members]
    best = np.inf
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            gap = means[a] - means[b]
            distance2 = float(gap @ gap)
            if distance2 == 0.0:
                return 0.0
            w = gap / np.sqrt(distance2)
            spread = float(w @ covariances[a] @ w + w @ covariances[b] @ w)
            best = min(best, distance2 / (max(spread, 0.0) + floor))
    return float(best)


def _unpack(data: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    if not (isinstance(data, tuple) and len(data) == 3):
        raise ProcessorError(
            "FisherSeparability: expected (features, (eigenvalues, vectors), {name: cluster ids})"
        )
    features, spectral, clusterings = data
    vectors = spectral[1] if isinstance(spectral, tuple) else spectral
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ProcessorError(
            f"FisherSeparability: expected (N, K) eigenvectors, got {vectors.shape}"
        )
    if not isinstance(clusterings, Mapping):  # one clustering: named after SpRAy's task
        clusterings = {"clustering": clusterings}
    return np.asarray(features), vectors, split_outputs(clusterings)[2]


def _fraction(value: float) -> str | None:
    return None if 0.0 <= value < 0.5 else "must be in [0, 0.5)"


def smallest_cluster(points: int, min_size: int = 2, min_fraction: float = 0.05) -> int:
    """The fewest members a cluster of a category of ``points`` needs to be compared."""
    return max(min_size, int(np.ceil(min_fraction * points)))


@processor
class FisherSeparability(Processor):
    """``{clustering name: score}`` for every clustering with at least two clusters of
    ``min_size`` members and ``min_fraction`` of the category (smaller clusters are outliers, not
    a strategy, and are left out); the input is ``(features, (eigenvalues, vectors),
    clusterings)``."""

    min_size: int = Param(int, 2, check=at_least(2))
    min_fraction: float = Param(float, 0.05, check=_fraction)

    def function(self, data: Any) -> Any:
        """Fisher separability per clustering; all 0 (and a warning) for all-equal features."""
        features, vectors, clusterings = _unpack(data)
        flat = features.reshape(features.shape[0], -1)
        constant = flat.shape[0] < 2 or bool(np.all(flat == flat[:1]))
        if constant:
            warnings.warn(
                "all attributions of this category are equal (zero variance): separability 0",
                ZeroVarianceWarning,
                stacklevel=2,
            )
        scores: dict[str, float] = {}
        size = smallest_cluster(vectors.shape[0], self.min_size, self.min_fraction)
        for name, labels in clusterings.items():
            if labels.shape[0] != vectors.shape[0]:
                raise ProcessorError(
                    f"FisherSeparability: clustering {name!r} has {labels.shape[0]} labels for "
                    f"{vectors.shape[0]} points"
                )
            score = fisher_separability(vectors, labels, size)
            if score is not None:
                scores[name] = 0.0 if constant or not np.isfinite(score) else score
        return scores


@hookimpl
def register_processors(register: Any) -> None:
    """Register the separability score of clusterings."""
    register(
        "fisher_separability",
        FisherSeparability,
        description="smallest pairwise Fisher ratio of each clustering in the eigen-embedding",
    )
