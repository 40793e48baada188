"""Clusterings and 2-D views on well-separated blobs, against the blobs' own labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import kneighbors_graph
from threadpoolctl import threadpool_limits

from relscope.core.errors import ProcessorError
from relscope.plugins.processors.clusterings import DBSCAN, HDBSCAN, Agglomerative, KMeans
from relscope.plugins.processors.embeddings import TSNE, UMAP, _threads
from relscope.plugins.processors.reduction import PCA


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=240, centers=4, n_features=6, cluster_std=0.5, random_state=0)


def test_kmeans_on_separated_blobs_has_ari_one(blobs):
    points, labels = blobs
    predicted = KMeans(4)(points)
    assert predicted.dtype == np.int32 and adjusted_rand_score(labels, predicted) == 1.0
    assert len(np.unique(KMeans(500)(points[:5]))) == 5  # k capped at N


def test_dbscan_and_hdbscan_find_the_blobs_and_mark_noise(blobs):
    points, labels = blobs
    with_outlier = np.vstack([points, [[100.0] * 6]])
    predicted = DBSCAN(eps=0.3)(with_outlier)
    assert predicted[-1] == -1
    assert adjusted_rand_score(labels, predicted[:-1]) == 1.0
    scaled = DBSCAN(eps=0.3)(with_outlier * 1000.0)  # eps is relative to the spread
    np.testing.assert_array_equal(scaled, predicted)
    assert adjusted_rand_score(labels, HDBSCAN(min_cluster_size=10)(points)) == 1.0


@pytest.mark.filterwarnings("ignore:the number of connected components:UserWarning")
def test_agglomerative_cuts_one_tree_at_every_k(blobs):
    points, labels = blobs
    cuts = Agglomerative(n_clusters=(2, 4, 7), n_neighbors=10)(points)
    assert sorted(cuts) == [2, 4, 7]
    assert [len(np.unique(cuts[k])) for k in (2, 4, 7)] == [2, 4, 7]
    assert adjusted_rand_score(labels, cuts[4]) == 1.0
    for k in (2, 7):  # the same partitions as scikit-learn's own cut of that tree
        reference = AgglomerativeClustering(
            n_clusters=k, connectivity=kneighbors_graph(points, 10), linkage="ward"
        ).fit_predict(points)
        assert adjusted_rand_score(reference, cuts[k]) == 1.0
    for k in (4, 7):  # nested: each finer cluster lies within one coarser cluster
        coarse = cuts[2 if k == 4 else 4]
        assert all(len(np.unique(coarse[cuts[k] == c])) == 1 for c in np.unique(cuts[k]))
    with pytest.raises(ProcessorError, match="n_clusters"):
        Agglomerative(n_clusters=())


def _neighbour_purity(embedding: np.ndarray, labels: np.ndarray) -> float:
    distances = np.linalg.norm(embedding[:, None] - embedding[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1)[:, :5]
    return float((labels[nearest] == labels[:, None]).mean())


def test_tsne_and_pca_views_keep_blobs_apart(blobs):
    points, labels = blobs
    tsne = TSNE(perplexity=20.0)(points)
    assert tsne.shape == (240, 2) and tsne.dtype == np.float32
    assert _neighbour_purity(tsne, labels) > 0.98
    np.testing.assert_array_equal(tsne, TSNE(perplexity=20.0)(points))  # seeded
    assert _neighbour_purity(PCA(2)(points), labels) > 0.9


def test_tsne_short_schedule_matches_opentsne_default_and_ignores_thread_count():
    points, _ = make_blobs(n_samples=1200, centers=5, n_features=6, random_state=0)
    ours = TSNE(n_jobs=1).fit(points)  # spectral start, exact gradients, 50 + 200 iterations
    # openTSNE's own default: PCA start, Barnes-Hut, 250 + 500 iterations
    default = TSNE(
        initialization="pca", early_exaggeration_iter=250, n_iter=500, method="bh", n_jobs=1
    )
    default_map = default.fit(points)
    assert ours.kl_divergence <= 1.1 * default_map.kl_divergence
    assert not np.array_equal(np.asarray(ours), np.asarray(default_map))  # the schedule is used
    # n_jobs is not an identifying parameter, so it must not change the cached map
    np.testing.assert_array_equal(np.asarray(ours, dtype=np.float32), TSNE(n_jobs=2)(points))


def test_tsne_pca_start_with_openTSNE_schedule_is_exactly_openTSNE_default():
    """The documented way back to openTSNE's default gives openTSNE's own map, bit for bit."""
    from openTSNE import TSNE as OpenTSNE

    points, _ = make_blobs(n_samples=300, centers=3, n_features=6, random_state=1)
    ours = TSNE(
        initialization="pca", early_exaggeration_iter=250, n_iter=500, method="bh", n_jobs=1
    )(points)
    theirs = OpenTSNE(random_state=0, n_jobs=1, neighbors="exact", verbose=False).fit(points)
    np.testing.assert_array_equal(ours, np.asarray(theirs, dtype=np.float32))


def test_tsne_spectral_start_is_the_eigenmap_of_its_affinities():
    """With no iterations the map is the initialisation: openTSNE's spectral start of the
    perplexity affinities (rescaled to std 1e-4), not the PCA start."""
    from openTSNE import affinity, initialization

    points, _ = make_blobs(n_samples=300, centers=3, n_features=6, random_state=2)
    start = TSNE(early_exaggeration_iter=0, n_iter=1, n_jobs=1)
    p = affinity.PerplexityBasedNN(points, perplexity=30, method="exact", random_state=0)
    expected = initialization.spectral(p.P, random_state=0, verbose=False)
    view = start(points).astype(np.float64)
    # one plain step moves the points a little; the layout is the eigenmap's, not PCA's
    pca = initialization.pca(points, random_state=0)
    assert np.corrcoef(view[:, 0], expected[:, 0])[0, 1] ** 2 > 0.99
    assert (
        np.corrcoef(view[:, 0], pca[:, 0])[0, 1] ** 2 < 0.99
        or np.corrcoef(view[:, 1], pca[:, 1])[0, 1] ** 2 < 0.99
    )


def test_tsne_threads_follow_the_openmp_limit_unless_given():
    import openTSNE  # noqa: F401  (loads the OpenMP runtime the limit applies to)

    with threadpool_limits(1):
        assert _threads(-1) == 1 and _threads(3) == 3
    with threadpool_limits(2):
        assert _threads(0) == 2
    # a limit that reached only BLAS (entered before an OpenMP runtime loaded) still counts
    with threadpool_limits(2), threadpool_limits(1, user_api="blas"):
        assert _threads(-1) == 1


@pytest.mark.skipif(UMAP.available(), reason="checks the message shown without umap-learn")
def test_umap_without_the_optional_package_says_how_to_get_it(blobs):
    with pytest.raises(ProcessorError, match=r"umap-learn is not installed.*relscope\[umap\]"):
        UMAP()(blobs[0])


@pytest.mark.skipif(not UMAP.available(), reason="umap-learn is optional")
def test_umap_view_keeps_blobs_apart(blobs):
    points, labels = blobs
    assert _neighbour_purity(UMAP()(points), labels) > 0.98
