"""Embeddings: the spectral eigen-embedding of a Laplacian, and 2-D views (t-SNE, UMAP).

``EigenEmbedding`` returns ``(eigenvalues, vectors)``: the ``n_eigval`` largest eigenvalues of the
normalised affinity ``I - L`` (1 once per connected component, descending) and their eigenvectors.
t-SNE is openTSNE's (exact up to 3,000 points, FFT-accelerated from 10,000 on); UMAP needs the
optional ``umap-learn`` package (``pip install relscope[umap]``).
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, greater_than, one_of, processor
from relscope.core.errors import ProcessorError

if TYPE_CHECKING:
    import scipy.sparse as sp

#: below this many points the eigenproblem is solved densely (exact, and faster than ARPACK)
DENSE_LIMIT = 600


def _signs_fixed(vectors: np.ndarray) -> np.ndarray:
    """Flip each eigenvector so its largest-magnitude entry is positive (a reproducible sign)."""
    rows = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


@processor
class EigenEmbedding(Processor):
    """Eigen-decomposition of a sparse Laplacian: ``(eigenvalues (K,), vectors (N, K))``."""

    n_eigval: int = Param(int, 32, check=at_least(1))
    tol: float = Param(float, 1e-8, check=greater_than(0))
    seed: int = Param(int, 0)

    def function(self, data: Any) -> Any:
        """The K largest eigenpairs of ``I - L`` (the smallest of ``L``)."""
        import scipy.sparse as sp

        if not (sp.issparse(data) or isinstance(data, np.ndarray)) or data.ndim != 2:
            raise ProcessorError("EigenEmbedding: expected a square (sparse) Laplacian matrix")
        n = data.shape[0]
        if data.shape[1] != n or n < 2:
            raise ProcessorError(f"EigenEmbedding: expected a square matrix, got {data.shape}")
        operator = (sp.identity(n, format="csr") - sp.csr_matrix(data, dtype=np.float64)).tocsr()
        asymmetry = abs(operator - operator.T)
        symmetric = asymmetry.nnz == 0 or asymmetry.max() <= 1e-10
        k = min(self.n_eigval, n - 1)
        if n <= DENSE_LIMIT or k >= n - 1:
            values, vectors = self._dense(operator.toarray(), symmetric)
        else:
            values, vectors = self._sparse(operator, symmetric, k)
        order = np.argsort(-values, kind="stable")[:k]
        vectors = _signs_fixed(vectors[:, order])
        return values[order].astype(np.float64), vectors.astype(np.float32)

    @staticmethod
    def _dense(matrix: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
        import scipy.linalg

        if symmetric:
            return scipy.linalg.eigh(matrix)
        values, vectors = scipy.linalg.eig(matrix)
        return values.real, vectors.real

    def _sparse(
        self, operator: sp.csr_matrix, symmetric: bool, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        from scipy.sparse.linalg import ArpackNoConvergence, eigs, eigsh

        n = operator.shape[0]
        start = np.random.default_rng(self.seed).standard_normal(n)
        ncv = min(n, max(2 * k + 1, 20))
        for attempt in range(2):  # ARPACK may stall on clustered eigenvalues: retry wider
            try:
                if symmetric:
                    return eigsh(operator, k=k, which="LA", v0=start, ncv=ncv, tol=self.tol)
                values, vectors = eigs(operator, k=k, which="LR", v0=start, ncv=ncv, tol=self.tol)
                return values.real, vectors.real
            except ArpackNoConvergence:
                if attempt == 1:
                    raise ProcessorError(
                        f"EigenEmbedding: ARPACK did not converge for {k} eigenvalues of a "
                        f"{n} x {n} operator; try fewer eigenvalues or a larger tol"
                    ) from None
                ncv = min(n, 2 * ncv)
        raise AssertionError("unreachable")


@processor
class LeadingEigenvectors(Processor):
    """The first ``n_columns`` eigenvectors, rows scaled to unit length (Ng-Jordan-Weiss).

    k-means with k clusters on the k leading eigenvectors is classical spectral clustering.
    """

    n_columns: int = Param(int, 2, check=at_least(1))
    normalize_rows: bool = Param(bool, True)

    def function(self, data: Any) -> Any:
        """(N, min(n_columns, K)) float array."""
        array = np.asarray(data)
        if array.ndim != 2 or array.dtype.kind != "f":
            raise ProcessorError(
                f"LeadingEigenvectors: expected (N, K) eigenvectors, got {array.dtype}"
                f"{list(array.shape)}"
            )
        columns = array[:, : self.n_columns]
        if not self.normalize_rows:
            return np.ascontiguousarray(columns)
        norms = np.linalg.norm(columns, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return columns / norms


def _points(data: Any, owner: str) -> np.ndarray:
    array = np.asarray(data)
    if array.ndim != 2 or array.dtype.kind not in "biuf" or array.shape[0] < 3:
        raise ProcessorError(
            f"{owner}: expected an (N >= 3, D) numeric array, got {array.dtype}{list(array.shape)}"
        )
    return array


def _threads(n_jobs: int) -> int:
    """``n_jobs`` if positive, else the thread limit in force for OpenMP and BLAS (``relscope
    analyze --threads`` sets it with threadpoolctl), else every core. BLAS counts too: a limit
    entered before openTSNE loaded its OpenMP runtime reaches only the libraries loaded then."""
    if n_jobs > 0:
        return n_jobs
    from threadpoolctl import threadpool_info

    limits = [
        lib["num_threads"] for lib in threadpool_info() if lib["user_api"] in ("openmp", "blas")
    ]
    return max(min(limits, default=os.cpu_count() or 1), 1)


#: up to this many input dimensions t-SNE finds its neighbours exactly (a k-d tree or brute force
#: beats Annoy's index build there: 0.3 s vs 2.0 s at 8,000 x 8, 21 s vs 37 s at 100,000 x 32)
EXACT_NEIGHBORS_MAX_DIM = 32


#: below this many points t-SNE starts from PCA: the spectral start needs a few eigenvectors
SPECTRAL_INIT_MIN_POINTS = 10


#: up to this many points t-SNE's ``auto`` method computes every pair's repulsion exactly
#: (``exact_tsne_gradient.py``): no slower than Barnes-Hut there, and exact, so a shorter schedule
#: reaches a lower KL divergence (N = 1,300: 0.7 s of CPU for KL 0.139-0.158 against
#: Barnes-Hut's 1.9 s for 0.147-0.167 with its 100 + 250 iterations)
EXACT_GRADIENT_MAX_POINTS = 3000
#: early-exaggeration and plain iterations when not given: exact gradients converge sooner
SCHEDULES = {"exact": (50, 200), "bh": (100, 250), "fft": (100, 250)}


@processor
class TSNE(Processor):
    """2-D t-SNE on openTSNE (exact gradients up to 3,000 points, Barnes-Hut below 10,000, FFT
    interpolation from there on).

    Default: a spectral start (Laplacian eigenmap of t-SNE's own affinities, so the map's global
    layout is fixed before the gradient descent), openTSNE's learning rate N / exaggeration
    (which adapts the step to N) and a schedule that follows the method: 50 early-exaggeration
    and 200 plain iterations with exact gradients, 100 + 250 with approximate ones. On SpRAy
    eigen-embeddings (one thread): N = 1,300 takes 0.7 s of CPU for KL 0.139-0.158 where
    Barnes-Hut with 100 + 250 takes 1.9 s for 0.147-0.167 and openTSNE's default (PCA start,
    Barnes-Hut, 250 + 500) 4.6 s for 0.145; N = 8,000 (Barnes-Hut) takes 24 s for KL 0.381
    against 33 s for 0.337 with openTSNE's default; the 10-nearest-neighbour recall of the map
    stays 0.93-0.94 throughout.
    ``TSNE(initialization="pca", early_exaggeration_iter=250, n_iter=500, method="bh")`` is
    exactly openTSNE's default (``benchmarks/spray.py`` measures both).
    """

    perplexity: float = Param(float, 30.0, check=greater_than(0))
    early_exaggeration_iter: int | None = Param(
        (int, type(None)), None, check=at_least(0), help="None: by method (exact 50, else 100)"
    )
    n_iter: int | None = Param(
        (int, type(None)), None, check=at_least(1), help="None: by method (exact 200, else 250)"
    )
    initialization: str = Param(str, "spectral", check=one_of("spectral", "pca", "random"))
    method: str = Param(str, "auto", check=one_of("auto", "exact", "bh", "fft"))
    seed: int = Param(int, 0)
    n_jobs: int = Param(int, -1, identifying=False)

    def _start(self, n: int, dims: int) -> str:
        """The initialisation actually used: spectral and PCA need enough points / dimensions."""
        if self.initialization == "spectral" and n < SPECTRAL_INIT_MIN_POINTS:
            return "pca" if dims >= 2 else "random"
        if self.initialization == "pca" and dims < 2:
            return "random"
        return self.initialization

    def gradient_method(self, n: int) -> str:
        """The repulsion method used for ``n`` points: ``auto`` picks by size."""
        if self.method != "auto":
            return self.method
        if n <= EXACT_GRADIENT_MAX_POINTS:
            return "exact"
        return "bh" if n < 10_000 else "fft"

    def schedule(self, n: int) -> tuple[int, int]:
        """(early-exaggeration, plain) iterations for ``n`` points."""
        early, plain = SCHEDULES[self.gradient_method(n)]
        return (
            early if self.early_exaggeration_iter is None else self.early_exaggeration_iter,
            plain if self.n_iter is None else self.n_iter,
        )

    def fit(self, data: Any) -> Any:
        """openTSNE's embedding of ``data`` (an array that also carries ``kl_divergence``)."""
        from openTSNE import TSNE as OpenTSNE

        from relscope.plugins.processors.exact_tsne_gradient import ExactGradient

        array = _points(data, "TSNE").astype(np.float64)
        n, dims = array.shape
        perplexity = min(self.perplexity, max((n - 1) / 3.0, 1.0))
        threads = _threads(self.n_jobs)
        method = self.gradient_method(n)
        gradient: Any = ExactGradient(threads) if method == "exact" else method
        early, plain = self.schedule(n)
        model = OpenTSNE(
            n_components=2,
            perplexity=perplexity,
            early_exaggeration_iter=early,
            n_iter=plain,
            random_state=self.seed,
            n_jobs=threads,
            negative_gradient_method=gradient,
            neighbors="exact" if n < 1000 or dims <= EXACT_NEIGHBORS_MAX_DIM else "auto",
            initialization=self._start(n, dims),
            verbose=False,
        )
        try:
            return model.fit(array)
        finally:
            if method == "exact":
                gradient.close()

    def function(self, data: Any) -> Any:
        """An (N, 2) float32 t-SNE map of ``data``."""
        return np.asarray(self.fit(data), dtype=np.float32)


@processor
class UMAP(Processor):
    """2-D UMAP (needs the optional ``umap-learn`` package)."""

    n_neighbors: int = Param(int, 15, check=at_least(2))
    min_dist: float = Param(float, 0.1, check=at_least(0))
    seed: int = Param(int, 0)

    @staticmethod
    def available() -> bool:
        """Whether ``umap-learn`` is installed."""
        return importlib.util.find_spec("umap") is not None

    def function(self, data: Any) -> Any:
        """An (N, 2) float32 UMAP map of ``data``."""
        if not self.available():
            raise ProcessorError(
                "UMAP: the optional package umap-learn is not installed "
                "(pip install 'relscope[umap]')"
            )
        import umap

        array = _points(data, "UMAP")
        model = umap.UMAP(
            n_components=2,
            n_neighbors=min(self.n_neighbors, array.shape[0] - 1),
            min_dist=self.min_dist,
            random_state=self.seed,
        )
        return np.asarray(model.fit_transform(array), dtype=np.float32)


@hookimpl
def register_processors(register: Any) -> None:
    """Register the embedding processors (UMAP only where umap-learn is installed)."""
    register("eigen", EigenEmbedding)
    register("leading_eigenvectors", LeadingEigenvectors)
    register("tsne", TSNE)
    if UMAP.available():
        register("umap", UMAP)
