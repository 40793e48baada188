"""Distances: each sample's k nearest neighbours (never the dense N x N distance matrix).

Output: ``(indices, distances)``, both (N, k), nearest first, a sample never its own neighbour.
Memory is O(N k); the search is chunked, so time is O(N^2 D) but memory stays flat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, one_of, processor
from relscope.core.errors import ProcessorError


@processor
class KNearestNeighbors(Processor):
    """Exact k-nearest neighbours of every row of an (N, D) array; k is capped at N - 1."""

    n_neighbors: int = Param(int, 32, check=at_least(1))
    metric: str = Param(str, "euclidean", check=one_of("euclidean", "cosine", "manhattan"))
    n_jobs: int = Param(int, -1, identifying=False)

    def function(self, data: Any) -> Any:
        """``(indices, distances)`` of the k nearest other rows."""
        from sklearn.neighbors import NearestNeighbors

        array = np.asarray(data)
        if array.ndim != 2 or array.dtype.kind not in "biuf":
            raise ProcessorError(
                f"KNearestNeighbors: expected an (N, D) numeric array, got "
                f"{array.dtype}{list(array.shape)}"
            )
        n = array.shape[0]
        if n < 2:
            raise ProcessorError(f"KNearestNeighbors: needs at least 2 samples, got {n}")
        k = min(self.n_neighbors, n - 1)
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        model = NearestNeighbors(
            n_neighbors=k, metric=self.metric, algorithm="brute", n_jobs=self.n_jobs
        )
        model.fit(array.astype(dtype, copy=False))
        distances, indices = model.kneighbors()  # no X: a sample is not its own neighbour
        return indices.astype(np.int64), distances.astype(np.float32)


@hookimpl
def register_processors(register: Any) -> None:
    """Register the distance processors."""
    register("knn", KNearestNeighbors)
