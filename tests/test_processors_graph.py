"""k-nearest neighbours, sparse affinities, Laplacians and the eigen-embedding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from relscope.core.errors import ProcessorError
from relscope.plugins.processors.affinities import ConnectivityAffinity, RBFAffinity
from relscope.plugins.processors.clusterings import KMeans
from relscope.plugins.processors.embeddings import EigenEmbedding, LeadingEigenvectors
from relscope.plugins.processors.laplacians import RandomWalkLaplacian, SymmetricLaplacian
from relscope.plugins.processors.neighbors import KNearestNeighbors


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


def test_knn_matches_brute_force_and_excludes_self():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 5))
    indices, distances = KNearestNeighbors(4)(data)
    full = np.linalg.norm(data[:, None] - data[None], axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(indices, np.argsort(full, axis=1)[:, :4])
    np.testing.assert_allclose(distances, np.sort(full, axis=1)[:, :4], rtol=1e-5)
    assert KNearestNeighbors(100)(data)[0].shape == (60, 59)  # k capped at N - 1


def test_affinities_are_sparse_symmetric_and_hand_checked():
    indices = np.array([[1], [0], [1]])  # 0 -> 1, 1 -> 0, 2 -> 1
    distances = np.array([[1.0], [1.0], [2.0]])
    rbf = RBFAffinity(sigma=1.0)((indices, distances)).toarray()
    e1, e4 = np.exp(-0.5), np.exp(-2.0)
    np.testing.assert_allclose(rbf, [[0, e1, 0], [e1, 0, e4], [0, e4, 0]])
    mean = ConnectivityAffinity(symmetrize="mean")((indices, distances)).toarray()
    np.testing.assert_allclose(mean, [[0, 1, 0], [1, 0, 0.5], [0, 0.5, 0]])

    rng = np.random.default_rng(1)
    graph = RBFAffinity(local=True)(KNearestNeighbors(5)(rng.normal(size=(500, 3))))
    assert sp.issparse(graph) and graph.shape == (500, 500)
    assert graph.nnz <= 2 * 500 * 5  # O(N k), never N x N
    assert abs(graph - graph.T).max() == 0 and graph.diagonal().max() == 0
    with pytest.raises(ProcessorError, match=r"expected \(indices, distances\)"):
        RBFAffinity()(np.ones((3, 3)))


def test_laplacians_match_their_formulas_on_a_path_graph():
    w = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    r = 2**-0.5
    np.testing.assert_allclose(
        SymmetricLaplacian()(w).toarray(), [[1, -r, 0], [-r, 1, -r], [0, -r, 1]]
    )
    np.testing.assert_allclose(
        RandomWalkLaplacian()(w).toarray(), [[1, -1, 0], [-0.5, 1, -0.5], [0, -1, 1]]
    )
    isolated = sp.csr_matrix((2, 2))
    np.testing.assert_allclose(SymmetricLaplacian()(isolated).toarray(), np.eye(2))


def _components_graph(sizes, seed=0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A random connected graph per component, no edges between components."""
    rng = np.random.default_rng(seed)
    blocks, labels = [], []
    for label, size in enumerate(sizes):
        block = (rng.random((size, size)) < 0.3).astype(float)
        block = np.triu(block, 1)
        block[np.arange(size - 1), np.arange(1, size)] = 1.0  # a path keeps it connected
        blocks.append(block + block.T)
        labels += [label] * size
    return sp.block_diag(blocks, format="csr"), np.array(labels)


@pytest.mark.parametrize("size", [40, 300])  # dense solver below 600 points, ARPACK above
def test_eigen_embedding_recovers_known_components(size):
    affinity, labels = _components_graph([size, size + 7, size // 2, size + 3])
    values, vectors = EigenEmbedding(6)(SymmetricLaplacian()(affinity))
    assert values.shape == (6,) and vectors.shape == (len(labels), 6)
    np.testing.assert_allclose(values[:4], 1.0, atol=1e-6)  # one eigenvalue 1 per component
    assert values[4] < 0.99 and np.all(np.diff(values) <= 1e-12)
    predicted = KMeans(4)(LeadingEigenvectors(4)(vectors))
    assert adjusted_rand_score(labels, predicted) == 1.0

    rw_values, _ = EigenEmbedding(6)(RandomWalkLaplacian()(affinity))
    np.testing.assert_allclose(rw_values, values, atol=1e-6)  # same spectrum, other operator


def test_eigen_embedding_is_reproducible_and_checks_its_input():
    affinity, _ = _components_graph([700], seed=2)
    laplacian = SymmetricLaplacian()(affinity)
    first, second = EigenEmbedding(5)(laplacian), EigenEmbedding(5)(laplacian)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_allclose(first[0][0], 1.0, atol=1e-8)
    with pytest.raises(ProcessorError, match="square"):
        EigenEmbedding()(sp.csr_matrix((3, 4)))
