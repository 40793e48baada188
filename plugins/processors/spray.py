"""SpRAy (spectral relevance analysis) as a pipeline of replaceable, separately cached tasks.

preprocess -> reduce (PCA) -> knn -> affinity (RBF) -> laplacian -> spectral (eigen-embedding with
eigenvalues) -> clustering and 2-D views, both computed on the eigen-embedding. Nothing is N x N
dense: memory grows linearly in N.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl
from relscope.core.analysis import (
    Parallel,
    Param,
    Pipeline,
    Processor,
    Sequential,
    Task,
    at_least,
    processor,
)
from relscope.core.analysis.params import non_empty_ints
from relscope.core.errors import ProcessorError
from relscope.plugins.processors.affinities import RBFAffinity
from relscope.plugins.processors.clusterings import DBSCAN, Agglomerative, KMeans
from relscope.plugins.processors.embeddings import (
    TSNE,
    UMAP,
    EigenEmbedding,
    LeadingEigenvectors,
)
from relscope.plugins.processors.laplacians import SymmetricLaplacian
from relscope.plugins.processors.neighbors import KNearestNeighbors
from relscope.plugins.processors.preprocessing import Flatten, NormalizePerSample, SumChannels
from relscope.plugins.processors.reduction import PCA

VIEWS = ("tsne", "umap", "pca")


def _positive_floats(value: tuple) -> str | None:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
        return "must hold positive numbers"
    return None


def _known_views(value: tuple) -> str | None:
    unknown = [v for v in value if v not in VIEWS]
    return f"must name views among {list(VIEWS)}" if unknown else None


def default_clustering(spray: Spray) -> Parallel:
    """k-means on the k leading eigenvectors for every k (spectral clustering), DBSCAN for every
    eps and one agglomerative tree cut at every k, both on the whole eigen-embedding."""
    children: dict[str, Processor] = {
        f"kmeans-{k:02d}": Sequential([LeadingEigenvectors(k), KMeans(k, seed=spray.seed)])
        for k in spray.n_clusters
    }
    for eps in spray.dbscan_eps:
        children[f"dbscan-eps={eps:g}"] = DBSCAN(float(eps))
    children["agglomerative"] = Agglomerative(n_clusters=spray.n_clusters)
    return Parallel(children, broadcast=True, n_jobs=spray.n_jobs)


def default_views(spray: Spray) -> Parallel:
    """The 2-D views named in ``view_names`` (UMAP only where umap-learn is installed)."""
    makers = {
        "tsne": lambda: TSNE(seed=spray.seed),
        "umap": lambda: UMAP(seed=spray.seed),
        "pca": lambda: PCA(2, seed=spray.seed),
    }
    names = [v for v in spray.view_names if v != "umap" or UMAP.available()]
    if not names:
        raise ProcessorError("Spray: view_names selects no available view")
    return Parallel({name: makers[name]() for name in names}, broadcast=True, n_jobs=spray.n_jobs)


@processor
class Spray(Pipeline):
    """Spectral relevance analysis: eigen-embedding of the kNN graph, clusterings and 2-D views.

    Outputs ``spectral`` (eigenvalues, vectors), ``clustering`` {name: labels} and ``views``
    {name: (N, 2)}. Replace any task by keyword, e.g. ``Spray(reduce=RandomProjection(64))``.
    """

    n_eigval: int = Param(int, 32, check=at_least(1))
    n_neighbors: int = Param(int, 32, check=at_least(1))
    n_clusters: tuple = Param(tuple, tuple(range(2, 31)), check=non_empty_ints(1))
    dbscan_eps: tuple = Param(tuple, (0.2,), check=_positive_floats)
    n_components: int = Param(int, 64, check=at_least(1))
    view_names: tuple = Param(tuple, VIEWS, check=_known_views)
    seed: int = Param(int, 0)
    n_jobs: int = Param(int, 1, identifying=False, check=at_least(1))

    preprocess: Processor = Task(
        lambda p: Sequential([SumChannels(), Flatten(), NormalizePerSample()]),
        help="attributions -> (N, features)",
    )
    reduce: Processor = Task(
        lambda p: PCA(p.n_components, seed=p.seed), help="dimension reduction before the kNN search"
    )
    knn: Processor = Task(lambda p: KNearestNeighbors(p.n_neighbors), help="k nearest neighbours")
    affinity: Processor = Task(RBFAffinity, help="sparse affinity on the kNN graph")
    laplacian: Processor = Task(SymmetricLaplacian, help="normalised graph Laplacian")
    spectral: Processor = Task(
        lambda p: EigenEmbedding(p.n_eigval, seed=p.seed),
        output=True,
        help="eigenvalues and eigenvectors",
    )
    clustering: Processor = Task(
        default_clustering, input="spectral", select=1, output=True, help="clusterings"
    )
    views: Processor = Task(
        default_views, input="spectral", select=1, output=True, help="2-D views"
    )


@hookimpl
def register_processors(register: Any) -> None:
    """Register the SpRAy pipeline."""
    register("spray", Spray)
