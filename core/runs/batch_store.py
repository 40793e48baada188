"""Finished batches of a run, encoded on background threads and stored in order (bounded memory)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from relscope.core.runs.partial_run import PartialRun

#: encodes one batch's arrays for storage, given a thread pool to spread the work over
Encoder = Callable[[dict[str, np.ndarray], ThreadPoolExecutor], dict[str, np.ndarray]]


class BatchStore:
    """Encodes finished batches on background threads and stores them in ``run`` in order.

    Encoding (e.g. zlib compression, which releases the GIL) runs on a small thread pool while the
    main thread computes the next batch; at most ``depth`` batches wait, bounding memory.
    """

    def __init__(self, run: PartialRun, encode: Encoder, depth: int = 2) -> None:
        self.run = run
        self.encode = encode
        self.depth = depth
        self.encoders = ThreadPoolExecutor(max(1, min(8, (os.cpu_count() or 2) // 2)))
        self.writer = ThreadPoolExecutor(1)
        self.pending: deque[Future[None]] = deque()

    def _store(self, number: int, arrays: dict[str, np.ndarray]) -> None:
        self.run.write_batch(number, self.encode(arrays, self.encoders))

    def submit(self, number: int, arrays: dict[str, np.ndarray]) -> None:
        """Queue batch ``number``; waits while ``depth`` batches are still being stored."""
        self.pending.append(self.writer.submit(self._store, number, arrays))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def close(self, raise_errors: bool = True) -> None:
        """Finish every queued batch (their files are atomic either way) and stop the threads."""
        try:
            while self.pending:
                future = self.pending.popleft()
                if raise_errors:
                    future.result()
                else:
                    future.exception()
        finally:
            self.writer.shutdown(wait=True)
            self.encoders.shutdown(wait=True)
