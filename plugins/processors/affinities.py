"""Affinities on the k-nearest-neighbour graph: sparse, symmetric (N, N), O(N k) entries.

Input: ``(indices, distances)`` from the ``knn`` processor. The graph is symmetrised by taking the
larger weight of ``i -> j`` and ``j -> i`` ("max", an edge if either is a neighbour of the other)
or their mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, greater_than, one_of, processor
from relscope.core.errors import ProcessorError

if TYPE_CHECKING:
    import scipy.sparse as sp


def _neighbours(data: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ProcessorError(f"{owner}: expected (indices, distances) from the knn processor")
    indices, distances = (np.asarray(part) for part in data)
    if indices.ndim != 2 or indices.shape != distances.shape:
        raise ProcessorError(
            f"{owner}: indices {list(indices.shape)} and distances {list(distances.shape)} must "
            "both be (N, k)"
        )
    return indices, distances


def _graph(indices: np.ndarray, weights: np.ndarray, symmetrize: str) -> sp.csr_matrix:
    import scipy.sparse as sp

    n, k = indices.shape
    rows = np.repeat(np.arange(n), k)
    graph = sp.csr_matrix(
        (weights.ravel().astype(np.float64), (rows, indices.ravel())), shape=(n, n)
    )
    graph.sum_duplicates()
    transpose = graph.T.tocsr()
    merged = graph.maximum(transpose) if symmetrize == "max" else (graph + transpose) * 0.5
    merged = merged.tocsr()
    merged.eliminate_zeros()
    merged.sort_indices()
    return merged


@processor
class RBFAffinity(Processor):
    """Gaussian weights ``exp(-d^2 / (2 sigma^2))`` on the kNN edges.

    ``sigma`` None takes the median neighbour distance; ``local`` uses self-tuning scales
    ``sigma_i sigma_j`` (sigma_i: distance to the i-th point's ``local_k``-th neighbour).
    """

    sigma: float | None = Param((float, type(None)), None, check=greater_than(0))
    local: bool = Param(bool, False)
    local_k: int = Param(int, 7, check=greater_than(0))
    symmetrize: str = Param(str, "max", check=one_of("max", "mean"))

    def function(self, data: Any) -> Any:
        """The sparse symmetric RBF affinity of the kNN graph."""
        indices, distances = _neighbours(data, "RBFAffinity")
        d2 = distances.astype(np.float64) ** 2
        if self.local:
            column = min(self.local_k, distances.shape[1]) - 1
            scale = distances[:, column].astype(np.float64)
            scale[scale <= 0] = np.median(scale) if np.any(scale > 0) else 1.0
            scale[scale <= 0] = 1.0
            weights = np.exp(-d2 / (scale[:, None] * scale[indices]))
        else:
            sigma = self.sigma
            if sigma is None:
                positive = distances[distances > 0]
                sigma = float(np.median(positive)) if positive.size else 1.0
            weights = np.exp(-d2 / (2.0 * sigma * sigma))
        weights = np.maximum(weights, np.finfo(np.float64).tiny)  # an edge stays an edge
        return _graph(indices, weights, self.symmetrize)


@processor
class ConnectivityAffinity(Processor):
    """Weight 1 on every kNN edge (the plain kNN connectivity graph)."""

    symmetrize: str = Param(str, "max", check=one_of("max", "mean"))

    def function(self, data: Any) -> Any:
        """The sparse symmetric 0/1 (or 1/2 with "mean") kNN graph."""
        indices, _ = _neighbours(data, "ConnectivityAffinity")
        return _graph(indices, np.ones(indices.shape), self.symmetrize)


@hookimpl
def register_processors(register: Any) -> None:
    """Register the affinity processors."""
    register("rbf", RBFAffinity)
    register("connectivity", ConnectivityAffinity)
