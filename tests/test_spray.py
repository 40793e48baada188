"""SpRAy finds a planted artefact: a subgroup whose relevance sits in one corner (Clever Hans)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from relscope.core.analysis import category_analysis
from relscope.plugins.processors.reduction import RandomProjection
from relscope.plugins.processors.spray import Spray


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


def planted(n: int = 300, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Attributions (n, 3, 16, 16): object relevance in the centre for all, and for a random
    ``fraction`` of samples strong relevance on a 3x3 corner patch as well."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    centre = np.exp(-((yy - 8.0) ** 2 + (xx - 8.0) ** 2) / 18.0)
    data = rng.normal(scale=0.15, size=(n, 3, 16, 16)) + centre * rng.uniform(
        0.6, 1.4, (n, 1, 1, 1)
    )
    artefact = rng.random(n) < fraction
    data[artefact, :, 12:15, 1:4] += rng.uniform(0.8, 1.2, (artefact.sum(), 1, 1, 1))
    return data.astype(np.float32), artefact


def best_ari(outputs: dict, truth: np.ndarray) -> tuple[str, float]:
    analysis = category_analysis(np.arange(len(truth)), outputs)
    scores = {name: adjusted_rand_score(truth, ids) for name, ids in analysis.clusterings.items()}
    best = max(scores, key=scores.get)
    return best, scores[best]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return planted()


def test_spray_isolates_the_planted_artefact_subgroup(data):
    attributions, artefact = data
    assert 0.1 < artefact.mean() < 0.3
    outputs = Spray(n_eigval=8, n_neighbors=10, n_clusters=range(2, 7))(attributions)
    name, score = best_ari(outputs, artefact)
    assert score >= 0.9, (name, score)
    values, vectors = outputs["spectral"]
    assert vectors.shape == (300, 8) and values[0] == pytest.approx(1.0)
    assert set(outputs["views"]) >= {"tsne"}
    assert all(view.shape == (300, 2) for view in outputs["views"].values())
    assert outputs["pca"].shape == (300, 2)


def test_the_pca_view_is_the_leading_principal_plane_of_the_attributions(data):
    """A replica from the formula: sum channels, flatten, scale each sample to unit L2 norm,
    centre, SVD in float64; the view's columns are the first two scores up to sign."""
    attributions, _ = data
    outputs = Spray(n_eigval=6, n_neighbors=10, n_clusters=(2,), view_names=("pca",))(attributions)
    features = attributions.astype(np.float64).sum(axis=1).reshape(len(attributions), -1)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    centred = features - features.mean(axis=0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    assert singular[1] / singular[2] > 1.01  # a real spectrum: the plane is well defined
    scores = centred @ right[:2].T
    view = outputs["pca"].astype(np.float64)
    for column in range(2):
        sign = np.sign(view[:, column] @ scores[:, column])
        np.testing.assert_allclose(
            sign * view[:, column], scores[:, column], atol=2e-3 * np.abs(scores).max()
        )
    assert "pca" not in outputs["views"] and set(outputs["views"]) == set()


def test_spray_with_a_task_replaced_by_keyword_still_finds_it(data):
    attributions, artefact = data
    spray = Spray(
        n_eigval=6,
        n_neighbors=10,
        n_clusters=(2, 3),
        view_names=("pca",),
        reduce=RandomProjection(32, seed=1),
    )
    _, score = best_ari(spray(attributions), artefact)
    assert score >= 0.9


def test_without_an_artefact_nothing_separates_like_it(data):
    attributions, artefact = data
    clean, _ = planted(fraction=0.0, seed=5)
    outputs = Spray(n_eigval=6, n_neighbors=10, n_clusters=(2, 3), view_names=("pca",))(clean)
    _, score = best_ari(outputs, artefact)  # an unrelated grouping: no clustering matches it
    assert score < 0.2
