"""Clusterings of an embedding: (N,) integer cluster ids, -1 for noise.

``Agglomerative`` builds one Ward tree on the embedding's k-nearest-neighbour graph and cuts it at
every requested number of clusters, returning ``{k: labels}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, greater_than, one_of, processor
from relscope.core.analysis.params import non_empty_ints
from relscope.core.errors import ProcessorError


def _points(data: Any, owner: str) -> np.ndarray:
    array = np.asarray(data)
    if array.ndim != 2 or array.dtype.kind not in "biuf" or array.shape[0] < 2:
        raise ProcessorError(
            f"{owner}: expected an (N >= 2, D) numeric array, got {array.dtype}{list(array.shape)}"
        )
    return array.astype(np.float64, copy=False)


@processor
class KMeans(Processor):
    """k-means with k-means++ seeding (best of ``n_init``); k is capped at N."""

    n_clusters: int = Param(int, 8, check=at_least(1))
    n_init: int = Param(int, 4, check=at_least(1))
    seed: int = Param(int, 0)

    def function(self, data: Any) -> Any:
        """Cluster ids 0..k-1."""
        from sklearn.cluster import KMeans as SkKMeans

        array = _points(data, "KMeans")
        k = min(self.n_clusters, array.shape[0])
        model = SkKMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed)
        return model.fit_predict(array).astype(np.int32)


def _standardized(array: np.ndarray) -> np.ndarray:
    """Scale so the root-mean-square distance to the mean is 1 (``eps`` is then scale-free)."""
    centred = array - array.mean(axis=0)
    rms = float(np.sqrt((centred**2).sum(axis=1).mean()))
    return centred / rms if rms > 0 else centred


@processor
class DBSCAN(Processor):
    """Density-based clusters; ``eps`` is relative to the data's RMS spread when ``standardize``."""

    eps: float = Param(float, 0.2, check=greater_than(0))
    min_samples: int = Param(int, 5, check=at_least(1))
    standardize: bool = Param(bool, True)
    n_jobs: int = Param(int, 1, identifying=False)

    def function(self, data: Any) -> Any:
        """Cluster ids, -1 for noise."""
        from sklearn.cluster import DBSCAN as SkDBSCAN

        array = _points(data, "DBSCAN")
        if self.standardize:
            array = _standardized(array)
        model = SkDBSCAN(eps=self.eps, min_samples=self.min_samples, n_jobs=self.n_jobs)
        return model.fit_predict(array).astype(np.int32)


@processor
class HDBSCAN(Processor):
    """Hierarchical density-based clusters (scikit-learn's HDBSCAN), -1 for noise."""

    min_cluster_size: int = Param(int, 10, check=at_least(2))
    min_samples: int | None = Param((int, type(None)), None, check=at_least(1))

    def function(self, data: Any) -> Any:
        """Cluster ids, -1 for noise."""
        from sklearn.cluster import HDBSCAN as SkHDBSCAN

        array = _points(data, "HDBSCAN")
        size = min(self.min_cluster_size, array.shape[0])
        options = {"copy": True} if "copy" in SkHDBSCAN().get_params() else {}
        model = SkHDBSCAN(min_cluster_size=max(size, 2), min_samples=self.min_samples, **options)
        return model.fit_predict(array).astype(np.int32)


def _cut(children: np.ndarray, n_leaves: int, n_clusters: int) -> np.ndarray:
    """Labels after the first ``n_leaves - n_clusters`` merges of a merge list (pointer jumping)."""
    steps = min(max(n_leaves - n_clusters, 0), len(children))
    parent = np.arange(n_leaves + len(children))
    parent[np.asarray(children[:steps]).ravel()] = np.repeat(n_leaves + np.arange(steps), 2)
    while True:
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            break
        parent = jumped
    _, labels = np.unique(parent[:n_leaves], return_inverse=True)
    return labels.astype(np.int32)


@processor
class Agglomerative(Processor):
    """Hierarchical clustering on the kNN graph of the embedding, cut at each of ``n_clusters``.

    Returns ``{k: labels}``; k is capped at N.
    """

    n_clusters: tuple = Param(tuple, tuple(range(2, 31)), check=non_empty_ints(1))
    n_neighbors: int = Param(int, 16, check=at_least(1))
    linkage: str = Param(str, "ward", check=one_of("ward", "average", "complete", "single"))

    def function(self, data: Any) -> Any:
        """``{k: cluster ids}`` for every requested k."""
        import warnings

        from sklearn.cluster import linkage_tree, ward_tree
        from sklearn.neighbors import kneighbors_graph

        array = _points(data, "Agglomerative")
        n = array.shape[0]
        graph = kneighbors_graph(array, n_neighbors=min(self.n_neighbors, n - 1))
        with warnings.catch_warnings():  # a disconnected graph is completed, which is fine here
            warnings.simplefilter("ignore", UserWarning)
            if self.linkage == "ward":
                children = ward_tree(array, connectivity=graph)[0]
            else:
                children = linkage_tree(array, connectivity=graph, linkage=self.linkage)[0]
        return {k: _cut(children, n, min(k, n)) for k in self.n_clusters}


@hookimpl
def register_processors(register: Any) -> None:
    """Register the clustering processors."""
    register("kmeans", KMeans)
    register("dbscan", DBSCAN)
    register("hdbscan", HDBSCAN)
    register("agglomerative", Agglomerative)
