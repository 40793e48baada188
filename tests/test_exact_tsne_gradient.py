"""The exact t-SNE gradient: a float64 replica of the formula, openTSNE's own exact (theta = 0)
Barnes-Hut, thread-count independence, and the size-dependent method and schedule of TSNE."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_blobs

from relscope.plugins.processors.embeddings import TSNE
from relscope.plugins.processors.exact_tsne_gradient import ExactGradient


def _affinities(n: int, seed: int) -> sp.csr_matrix:
    """A symmetric sparse P with 20 neighbours a row, summing to 1 (as openTSNE's)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 20)
    cols = (rows + rng.integers(1, n, rows.size)) % n
    matrix = sp.csr_matrix((rng.random(rows.size), (rows, cols)), shape=(n, n))
    matrix = matrix + matrix.T
    return sp.csr_matrix(matrix / matrix.sum())


def _replica(y: np.ndarray, p: sp.csr_matrix) -> tuple[float, np.ndarray]:
    """KL(P || Q) and openTSNE's gradient (no factor 4), straight from the formula in float64."""
    dense = p.toarray()
    diff = y[:, None, :] - y[None, :, :]
    w = 1.0 / (1.0 + (diff**2).sum(-1))
    np.fill_diagonal(w, 0.0)
    z = w.sum()
    gradient = ((dense * w)[:, :, None] * diff).sum(1) - ((w * w)[:, :, None] * diff).sum(1) / z
    where = dense > 0
    kl = float((dense[where] * np.log(dense[where] / (w[where] / z))).sum())
    return kl, gradient


@pytest.mark.parametrize(("n", "block"), [(7, 256), (300, 256), (601, 256), (301, 128)])
def test_exact_gradient_is_the_formula_also_after_exaggeration(n, block):
    """One block; two; three of 201, 201, 199 rows; three of 101, 101, 99 rows."""
    rng = np.random.default_rng(n)
    y = rng.normal(scale=5.0, size=(n, 2))
    p = _affinities(n, seed=n)
    objective = ExactGradient(block_rows=block)
    kl, gradient = objective(y, p, should_eval_error=True)
    expected_kl, expected = _replica(y, p)
    np.testing.assert_allclose(gradient, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    assert kl == pytest.approx(expected_kl, rel=1e-5)
    p *= 12.0  # openTSNE exaggerates in place: the kept dense copy must follow the scale
    _, exaggerated = objective(y, p)
    _, expected_12 = _replica(y, p)
    np.testing.assert_allclose(
        exaggerated, expected_12, rtol=0, atol=2e-5 * np.abs(expected_12).max()
    )
    assert not np.allclose(exaggerated, gradient)


def test_exact_gradient_agrees_with_opentsne_barnes_hut_at_theta_zero():
    from openTSNE.tsne import kl_divergence_bh

    rng = np.random.default_rng(1)
    y = rng.normal(scale=8.0, size=(500, 2))
    p = _affinities(500, seed=1)
    _, theirs = kl_divergence_bh(y.copy(), p, 1, {"theta": 0.0})
    _, ours = ExactGradient()(y, p)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max())


def test_exact_gradient_is_the_same_on_any_number_of_threads():
    rng = np.random.default_rng(2)
    y = rng.normal(scale=3.0, size=(701, 2))  # 6 blocks of 117 or 116 rows, 21 pairs
    p = _affinities(701, seed=2)
    one = ExactGradient(threads=1, block_rows=128)(y, p, should_eval_error=True)
    threaded = ExactGradient(threads=3, block_rows=128)
    many = threaded(y, p, should_eval_error=True)
    threaded.close()
    assert one[0] == many[0]  # bit for bit: a map must not depend on n_jobs (not identifying)
    np.testing.assert_array_equal(one[1], many[1])


def test_exact_gradient_refuses_what_it_does_not_compute():
    y, p = np.zeros((5, 2)), _affinities(5, seed=0)
    with pytest.raises(ValueError, match="dof = 1"):
        ExactGradient()(y, p, dof=0.5)
    with pytest.raises(ValueError, match="reference embedding"):
        ExactGradient()(y, p, reference_embedding=y)
    with pytest.raises(ValueError, match="2-D"):
        ExactGradient()(np.zeros((5, 3)), p)


def test_tsne_method_and_schedule_follow_the_number_of_points():
    tsne = TSNE()
    assert [tsne.gradient_method(n) for n in (1300, 3000, 3001, 9999, 10_000)] == [
        "exact", "exact", "bh", "bh", "fft",
    ]  # fmt: skip
    assert tsne.schedule(1300) == (50, 200) and tsne.schedule(5000) == (100, 250)
    assert TSNE(n_iter=300).schedule(1300) == (50, 300)
    assert TSNE(method="bh", early_exaggeration_iter=0).schedule(1300) == (0, 250)


def test_exact_tsne_reaches_a_lower_kl_than_barnes_hut_with_its_longer_schedule():
    points, labels = make_blobs(n_samples=1000, centers=6, n_features=8, random_state=3)
    exact = TSNE(n_jobs=1).fit(points)  # auto: exact, 50 + 200
    approximate = TSNE(method="bh", n_jobs=1).fit(points)  # Barnes-Hut, 100 + 250
    # both KLs from the formula on the same affinities, not from the methods' own estimates
    assert exact.affinities.P.nnz == approximate.affinities.P.nnz
    kl_exact = _replica(np.asarray(exact, dtype=np.float64), exact.affinities.P)[0]
    kl_approximate = _replica(np.asarray(approximate, dtype=np.float64), exact.affinities.P)[0]
    assert kl_exact < kl_approximate
    assert exact.kl_divergence == pytest.approx(kl_exact, rel=1e-4)
    view = np.asarray(exact)
    distances = np.linalg.norm(view[:, None] - view[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1)[:, :5]
    assert (labels[nearest] == labels[:, None]).mean() > 0.98
