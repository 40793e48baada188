"""Preprocessing and dimension-reduction processors against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from relscope.core.errors import ProcessorError
from relscope.plugins.processors.preprocessing import (
    Absolute,
    Flatten,
    Histogram,
    NormalizePerSample,
    Pooling,
    Resize,
    SumChannels,
)
from relscope.plugins.processors.reduction import PCA, RandomProjection


@pytest.fixture(autouse=True)
def _one_thread():
    """BLAS/OpenMP on one thread: on a busy shared machine extra threads only spin."""
    with threadpool_limits(1):
        yield


def test_sum_channels_handles_channels_first_and_last():
    first = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(SumChannels()(first), first.sum(axis=1))
    last = np.moveaxis(first, 1, -1)  # (2, 4, 5, 3): channels are the smallest axis
    np.testing.assert_array_equal(SumChannels()(last), first.sum(axis=1))
    np.testing.assert_array_equal(SumChannels(channel_axis=3)(last), first.sum(axis=1))
    flat = np.ones((2, 6))
    assert SumChannels()(flat) is flat  # nothing to sum: passes through
    assert SumChannels()(np.ones((2, 3, 3, 3), dtype=np.int8)).dtype == np.float32


def test_absolute_flatten_and_normalise():
    data = np.array([[[3.0, -4.0]], [[0.0, 0.0]], [[-1.0, 1.0]]])  # (3, 1, 2)
    np.testing.assert_array_equal(Absolute()(data), np.abs(data))
    flat = Flatten()(data)
    assert flat.shape == (3, 2)
    assert Flatten()(flat) is flat
    l2 = NormalizePerSample()(flat)
    np.testing.assert_allclose(l2, [[0.6, -0.8], [0.0, 0.0], [-(0.5**0.5), 0.5**0.5]])
    np.testing.assert_allclose(NormalizePerSample("l1")(flat)[0], [3 / 7, -4 / 7])
    np.testing.assert_allclose(NormalizePerSample("max")(flat)[0], [0.75, -1.0])
    with pytest.raises(ProcessorError, match=r"parameter 'norm' must be one of"):
        NormalizePerSample("l3")


def test_pooling_sums_means_and_maxes_whole_blocks():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_array_equal(Pooling(2)(image)[0], [[10, 18], [42, 50]])
    np.testing.assert_array_equal(Pooling(2, mode="mean")(image)[0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(Pooling(3, mode="max")(image)[0], [[10]])  # remainder dropped
    with pytest.raises(ProcessorError, match="exceeds the spatial shape"):
        Pooling(5)(image)


def test_resize_changes_the_spatial_shape_and_keeps_constants():
    data = np.full((2, 3, 8, 6), 7.0, dtype=np.float32)
    out = Resize((4, 12))(data)
    assert out.shape == (2, 3, 4, 12) and out.dtype == np.float32
    np.testing.assert_allclose(out, 7.0)
    ramp = np.tile(np.arange(8, dtype=np.float64), (8, 1))[None]  # left-to-right ramp
    small = Resize((4, 4))(ramp)[0]
    assert np.all(np.diff(small, axis=1) > 0) and np.allclose(np.diff(small, axis=0), 0)


def test_histogram_counts_into_shared_bins():
    data = np.array([[0.0, 0.0, 1.0, 3.0], [4.0, 4.0, 4.0, 4.0]])
    out = Histogram(bins=4)(data)  # range (0, 4): bins [0,1) [1,2) [2,3) [3,4]
    np.testing.assert_allclose(out, [[0.5, 0.25, 0.0, 0.25], [0.0, 0.0, 0.0, 1.0]])
    fixed = Histogram(bins=2, value_range=(0.0, 2.0))(data)
    np.testing.assert_allclose(fixed, [[0.5, 0.5], [0.0, 1.0]])  # outside values clip


def test_pca_reduces_to_the_principal_subspace_and_passes_small_inputs():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(50, 3)))[0]
    data = (rng.normal(size=(200, 3)) * [10.0, 5.0, 2.0]) @ basis.T  # rank 3 in 50-D
    scores = PCA(3)(data.astype(np.float32))
    assert scores.shape == (200, 3) and scores.dtype == np.float32
    centred = data - data.mean(axis=0)
    np.testing.assert_allclose(  # no variance lost: pairwise geometry is kept
        np.linalg.norm(scores[0] - scores[1]), np.linalg.norm(centred[0] - centred[1]), rtol=1e-3
    )
    assert PCA(64)(data) is data


@pytest.mark.parametrize("n", [300, 40])  # covariance (N > D) and Gram (N < D) matrices
def test_covariance_pca_is_the_float64_svd_with_signed_axes(n):
    """A replica from the formula: centre, SVD in float64, scores U S; each axis signed so its
    largest-magnitude loading is positive. Whitened scores have unit variance."""
    rng = np.random.default_rng(n)
    data = rng.normal(size=(n, 60)) * np.linspace(3.0, 0.1, 60)
    scores = PCA(8, solver="covariance")(data)
    centred = data - data.mean(axis=0)
    left, singular, right = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(right[np.arange(8), np.abs(right[:8]).argmax(axis=1)])
    np.testing.assert_allclose(scores, left[:, :8] * singular[:8] * signs, atol=1e-8)
    white = PCA(8, solver="covariance", whiten=True)(data)
    np.testing.assert_allclose(white.std(axis=0, ddof=1), 1.0, rtol=1e-8)
    assert PCA(8)(data.astype(np.float32)).dtype == np.float32  # auto picks it at these sizes
    np.testing.assert_allclose(PCA(8)(data), scores)
    few = PCA(30, solver="covariance")(data[:20])  # k = 20 > rank 19: the last score is 0
    np.testing.assert_allclose(few[:, 19:], 0.0, atol=1e-8)
    assert np.isfinite(few).all() and np.abs(few[:, :19]).max() > 0.1


def test_random_projection_keeps_distances_roughly():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(40, 2000))
    projected = RandomProjection(400, seed=3)(data)
    assert projected.shape == (40, 400)
    ratio = np.linalg.norm(projected[0] - projected[1:], axis=1) / np.linalg.norm(
        data[0] - data[1:], axis=1
    )
    assert np.all(np.abs(ratio - 1) < 0.2)
    np.testing.assert_array_equal(projected, RandomProjection(400, seed=3)(data))
