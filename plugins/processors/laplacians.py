"""Graph Laplacians of a sparse affinity W with degrees D: symmetric and random-walk normalised.

    symmetric:    L = I - D^-1/2 W D^-1/2
    random walk:  L = I - D^-1 W

Both have eigenvalue 0 once per connected component; an isolated point gets L_ii = 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Processor, processor
from relscope.core.errors import ProcessorError

if TYPE_CHECKING:
    import scipy.sparse as sp


def _affinity(data: Any, owner: str) -> tuple[sp.csr_matrix, np.ndarray]:
    import scipy.sparse as sp

    if not sp.issparse(data) or data.ndim != 2 or data.shape[0] != data.shape[1]:
        raise ProcessorError(f"{owner}: expected a square sparse affinity matrix, got {data!r}")
    affinity = sp.csr_matrix(data, dtype=np.float64)
    if affinity.nnz and affinity.data.min() < 0:
        raise ProcessorError(f"{owner}: affinities must be non-negative")
    return affinity, np.asarray(affinity.sum(axis=1)).ravel()


def _inverse(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values)
    np.divide(1.0, values, out=out, where=values > 0)
    return out


@processor
class SymmetricLaplacian(Processor):
    """``I - D^-1/2 W D^-1/2`` (sparse, symmetric)."""

    def function(self, data: Any) -> Any:
        """The symmetric normalised Laplacian of the affinity ``data``."""
        import scipy.sparse as sp

        affinity, degree = _affinity(data, "SymmetricLaplacian")
        scale = sp.diags(np.sqrt(_inverse(degree)))
        identity = sp.identity(affinity.shape[0], format="csr")
        return (identity - scale @ affinity @ scale).tocsr()


@processor
class RandomWalkLaplacian(Processor):
    """``I - D^-1 W`` (sparse, not symmetric)."""

    def function(self, data: Any) -> Any:
        """The random-walk normalised Laplacian of the affinity ``data``."""
        import scipy.sparse as sp

        affinity, degree = _affinity(data, "RandomWalkLaplacian")
        identity = sp.identity(affinity.shape[0], format="csr")
        return (identity - sp.diags(_inverse(degree)) @ affinity).tocsr()


@hookimpl
def register_processors(register: Any) -> None:
    """Register the Laplacian processors."""
    register("symmetric_laplacian", SymmetricLaplacian)
    register("random_walk_laplacian", RandomWalkLaplacian)
