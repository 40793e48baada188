"""The exact t-SNE gradient of a small 2-D map: every pair's repulsion, in cache-sized blocks.

Barnes-Hut approximates the repulsive forces with a quad tree. Below a few thousand points all
N^2 pairs cost no more than the tree (N = 1,300: 3 ms against 5-6 ms per iteration on one core)
and are exact, so the map reaches a lower KL divergence in fewer iterations. openTSNE takes any
callable as its gradient method; ``ExactGradient`` is one, so openTSNE's own optimiser (gains,
momentum, step clipping, centring) and its affinities run unchanged around it.

With w_ij = 1 / (1 + |y_i - y_j|^2) and Z = sum over i != j of w_ij, openTSNE's gradient (it
leaves out the factor 4) is

    g_i = sum_j p_ij w_ij (y_i - y_j)  -  (1 / Z) sum_j w_ij^2 (y_i - y_j).

Both sums are ``M @ [y, 1]`` for a row block M of P * W or W^2, so each block of rows takes one
small matrix product for 1 + |y_i - y_j|^2, three element-wise passes and two products against
``[y, 1]``, all in float32 on a block that stays in the core's cache; the sums are float64.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: most rows (and columns) of a block: two float32 blocks of 320 x 320 stay in a core's L2
#: cache, and blocks this large keep numpy's per-call overhead small
BLOCK_ROWS = 320


class ExactGradient:
    """An openTSNE gradient method: the KL divergence of a 2-D map (dof = 1) and its exact gradient.

    ``threads > 1`` spreads the block pairs over that many threads (numpy releases the GIL in
    the products and element-wise passes). Call ``close`` when the optimisation is over.
    """

    def __init__(self, threads: int = 1, block_rows: int = BLOCK_ROWS) -> None:
        self.threads = max(int(threads), 1)
        self.block_rows = block_rows
        self._key: tuple[int, int, int] | None = None
        self._dense: np.ndarray | None = None  # P as float32, as first seen
        self._total = 1.0  # P's sum as first seen: openTSNE exaggerates P by scaling it in place
        self._pool: ThreadPoolExecutor | None = None
        self._buffers = threading.local()  # two blocks per thread, reused across iterations

    def close(self) -> None:
        """Stop the worker threads (a new call starts them again)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _affinities(self, P: Any) -> tuple[np.ndarray, float]:
        """P densely (kept from the first call) and the factor P has been scaled by since."""
        key = (id(P), P.shape[0], P.nnz)
        if key != self._key:
            self._dense = P.toarray().astype(np.float32)
            self._total = float(P.data.sum())
            self._key = key
        assert self._dense is not None
        return self._dense, float(P.data.sum()) / self._total

    def _blocks(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """This thread's two float32 work blocks of ``rows`` x ``cols``, each contiguous (a
        strided view of a larger block makes every pass and product slower)."""
        held = getattr(self._buffers, "held", None)
        if held is None or held.shape[1] < rows * cols:
            held = self._buffers.held = np.empty((2, self.block_rows**2), np.float32)
        size = rows * cols
        return held[0, :size].reshape(rows, cols), held[1, :size].reshape(rows, cols)

    def __call__(
        self,
        embedding: np.ndarray,
        P: Any,
        dof: float = 1,
        reference_embedding: Any = None,
        should_eval_error: bool = False,
        **_: Any,
    ) -> tuple[float, np.ndarray]:
        """openTSNE's objective: ``(KL divergence or 0, gradient)`` of ``embedding`` under ``P``."""
        Y = np.asarray(embedding, dtype=np.float64)
        if dof != 1 or Y.ndim != 2 or Y.shape[1] != 2 or reference_embedding is not None:
            raise ValueError(
                "ExactGradient: only 2-D maps with dof = 1, optimised on their own (no "
                "reference embedding)"
            )
        dense, scale = self._affinities(P)
        n = len(Y)
        size = -(-n // -(-n // self.block_rows))  # equal blocks of at most block_rows
        y32 = Y.astype(np.float32)
        squares = (y32 * y32).sum(axis=1)
        ones = np.ones(n, np.float32)
        # (1 + |y_i - y_j|^2) = [-2 y_i, 1, 1 + |y_i|^2] . [y_j, |y_j|^2, 1]
        left = np.column_stack([-2 * y32, ones, 1 + squares])
        right = np.vstack([y32.T, squares, ones])
        points = np.column_stack([y32, ones])
        starts = range(0, n, size)
        pairs = [(a, b) for i, a in enumerate(starts) for b in starts[i:]]  # W is symmetric

        def pair(rows: int, cols: int) -> _PairSums:
            """The sums of the block W[rows, cols] and, mirrored, of W[cols, rows]."""
            r, c = slice(rows, min(rows + size, n)), slice(cols, min(cols + size, n))
            kernel, weighted = self._blocks(r.stop - rows, c.stop - cols)
            np.matmul(left[r], right[:, c], out=kernel)  # 1 + squared distances
            np.reciprocal(kernel, out=kernel)
            mirrored = rows != cols
            if not mirrored:
                np.fill_diagonal(kernel, 0.0)
            count = 2.0 if mirrored else 1.0
            sums = _PairSums(count * float((kernel @ ones[c]).sum(dtype=np.float64)))
            np.multiply(dense[r, c], kernel, out=weighted)
            if should_eval_error:
                sums.error = count * _kl_terms(dense[r, c] * scale, kernel)
            sums.add(r, weighted @ points[c], c, weighted.T @ points[r] if mirrored else None)
            np.square(kernel, out=kernel)
            sums.add(r, kernel @ points[c], c, kernel.T @ points[r] if mirrored else None, 1)
            return sums

        if self.threads > 1 and len(pairs) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="exact-tsne")
            parts = list(self._pool.map(lambda ab: pair(*ab), pairs))
        else:
            parts = [pair(a, b) for a, b in pairs]
        attraction, repulsion = np.zeros((n, 3)), np.zeros((n, 3))
        totals = (attraction, repulsion)
        for part in parts:  # in pair order: the same sums on any number of threads
            for which, where, values in part.rows:
                totals[which][where] += values
        z = sum(part.normaliser for part in parts)
        gradient = scale * (attraction[:, 2:] * Y - attraction[:, :2])
        gradient -= (repulsion[:, 2:] * Y - repulsion[:, :2]) / z
        error = 0.0
        if should_eval_error:  # sum p log(p / (w / Z)) = sum p log(p / w) + (sum p) log Z
            error = sum(part.error for part in parts) + float(P.data.sum()) * np.log(z)
        return error, gradient


class _PairSums:
    """What one block pair adds: to Z, to the KL divergence, and to rows of the two sums."""

    def __init__(self, normaliser: float) -> None:
        self.normaliser = normaliser
        self.error = 0.0
        self.rows: list[tuple[int, slice, np.ndarray]] = []

    def add(
        self, rows: slice, values: np.ndarray, cols: slice, mirrored: Any, which: int = 0
    ) -> None:
        """Rows ``rows`` get ``values``, rows ``cols`` get ``mirrored`` (attraction: 0)."""
        self.rows.append((which, rows, values))
        if mirrored is not None:
            self.rows.append((which, cols, mirrored))


def _kl_terms(p: np.ndarray, w: np.ndarray) -> float:
    """sum of p log(p / w) over the entries where p > 0 (float64)."""
    where = p > 0
    values = p[where].astype(np.float64)
    return float((values * (np.log(values) - np.log(w[where].astype(np.float64)))).sum())
