"""Dimension reduction (PCA, random projection): a recorded pipeline step before neighbour search.

Exact k-nearest neighbours cost N^2 * D; reducing D = 1,024 to ~64 first keeps large N tractable.
A batch that already has at most ``n_components`` features passes through unchanged.
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
    solver: str = Param(str, "auto", check=one_of("auto", "full", "randomized"))
    seed: int = Param(int, 0)

    def function(self, data: Any) -> Any:
        """Principal-component scores, float32 when the input is float32."""
        from sklearn.decomposition import PCA as SkPCA

        array = _features(data, "PCA")
        n, d = array.shape
        if d <= self.n_components:
            return data
        k = min(self.n_components, n)
        solver = self.solver
        if solver == "auto":
            solver = "randomized" if k < 0.5 * min(n, d) and min(n, d) > 500 else "full"
        model = SkPCA(n_components=k, whiten=self.whiten, svd_solver=solver, random_state=self.seed)
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        return model.fit_transform(array.astype(dtype, copy=False)).astype(dtype, copy=False)


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
