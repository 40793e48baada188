"""Dimension reduction (PCA, random projection): a recorded pipeline step before neighbour search.

Exact k-nearest neighbours cost N^2 * D; reducing D = 1,024 to ~64 first keeps large N tractable.
A batch that already has at most ``n_components`` features passes through unchanged.

PCA's default solver for SpRAy's shapes (many samples, ~1,000 features) is the eigen-decomposition
of the covariance matrix: one pass over the data (N D^2, a BLAS matrix product) and a D x D
eigenproblem, exact; at 8,000 x 1,024 it took 2.3 s of CPU where scikit-learn's randomized SVD
(approximate) took 3.7 s and its full SVD 18 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, one_of, processor
from relscope.core.errors import ProcessorError


def _features(data: Any, owner: str) -> np.ndarray:
    array = np.asarray(data)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise ProcessorError(
            f"{owner}: expected an (N, features) numeric array (flatten first), got "
            f"{array.dtype}{list(array.shape)}"
        )
    return array


@processor
class PCA(Processor):
    """Project onto the first ``n_components`` principal components (randomized SVD when large).

    Also the 2-D "pca" view of an embedding (``PCA(2)``).
    """

    n_components: int = Param(int, 64, check=at_least(1))
    whiten: bool = Param(bool, False)
    solver: str = Param(str, "auto", check=one_of("auto", "covariance", "full", "randomized"))
    seed: int = Param(int, 0)

    def function(self, data: Any) -> Any:
        """Principal-component scores, float32 when the input is float32.

        ``solver`` "auto" is "covariance" up to ``COVARIANCE_MAX_DIM`` features, else
        scikit-learn's randomized SVD when k is small, else its full SVD."""
        array = _features(data, "PCA")
        n, d = array.shape
        if d <= self.n_components:
            return data
        k = min(self.n_components, n)
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        solver = self.solver
        if solver == "auto":
            if d <= COVARIANCE_MAX_DIM:
                solver = "covariance"
            else:
                solver = "randomized" if k < 0.5 * min(n, d) and min(n, d) > 500 else "full"
        if solver == "covariance":
            return _covariance_pca(array, k, self.whiten).astype(dtype, copy=False)
        from sklearn.decomposition import PCA as SkPCA

        model = SkPCA(n_components=k, whiten=self.whiten, svd_solver=solver, random_state=self.seed)
        return model.fit_transform(array.astype(dtype, copy=False)).astype(dtype, copy=False)


#: up to this many features PCA eigen-decomposes the covariance (or, with fewer samples, the Gram)
#: matrix; above it the D x D eigenproblem and the float64 copies outweigh a randomized SVD
COVARIANCE_MAX_DIM = 4096
#: rows per block when accumulating the covariance in float64 (bounded extra memory)
_BLOCK = 4096


def _covariance_pca(array: np.ndarray, k: int, whiten: bool) -> np.ndarray:
    """Exact PCA scores from the eigenvectors of the float64 covariance (D <= N) or Gram (N < D)
    matrix; each principal axis signed so its largest-magnitude loading is positive."""
    import scipy.linalg

    n, d = array.shape
    mean = array.mean(axis=0, dtype=np.float64)
    if d <= n:
        scatter = np.zeros((d, d))
        for start in range(0, n, _BLOCK):
            block = array[start : start + _BLOCK].astype(np.float64) - mean
            scatter += block.T @ block
        values, axes = scipy.linalg.eigh(scatter, subset_by_index=(d - k, d - 1))
        values, axes = values[::-1], axes[:, ::-1]
    else:  # fewer samples than features: the N x N Gram matrix has the same spectrum
        centred = array.astype(np.float64) - mean
        values, left = scipy.linalg.eigh(centred @ centred.T, subset_by_index=(n - k, n - 1))
        values, left = values[::-1], left[:, ::-1]
        axes = centred.T @ left * _inverse_root(values)
    rows = np.abs(axes).argmax(axis=0)
    axes = axes * np.where(axes[rows, np.arange(k)] < 0, -1.0, 1.0)
    scores = np.empty((n, k))
    for start in range(0, n, _BLOCK):
        scores[start : start + _BLOCK] = (array[start : start + _BLOCK] - mean) @ axes
    if whiten:
        scores *= _inverse_root(values / max(n - 1, 1))
    return scores


def _inverse_root(values: np.ndarray) -> np.ndarray:
    """``1 / sqrt(values)``, 0 for the values that are rounding noise (beyond the data's rank)."""
    positive = values > values.max(initial=0.0) * values.size * np.finfo(np.float64).eps
    out = np.zeros_like(values)
    out[positive] = 1.0 / np.sqrt(values[positive])
    return out


@processor
class RandomProjection(Processor):
    """Gaussian random projection to ``n_components`` dimensions (distances kept up to ~eps)."""

    n_components: int = Param(int, 64, check=at_least(1))
    seed: int = Param(int, 0)

    def function(self, data: Any) -> Any:
        """``data @ R`` with R ~ N(0, 1/n_components), drawn from ``seed``."""
        array = _features(data, "RandomProjection")
        if array.shape[1] <= self.n_components:
            return data
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        rng = np.random.default_rng(self.seed)
        matrix = rng.standard_normal((array.shape[1], self.n_components)).astype(dtype)
        matrix /= np.sqrt(self.n_components)
        return array.astype(dtype, copy=False) @ matrix


@hookimpl
def register_processors(register: Any) -> None:
    """Register the dimension-reduction processors."""
    register("pca", PCA)
    register("random_projection", RandomProjection)
