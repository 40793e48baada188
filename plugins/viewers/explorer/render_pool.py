"""The threads that render images the cache does not hold, started with the server and kept.

Starlette's thread pool (anyio's) starts a thread for a request that finds none idle, and lets an
idle one go after 10 s. Starting one blocks the event loop until the new thread holds the GIL,
which, while other renders decode, takes up to a GIL switch interval (5 ms) per thread: the eighth
of eight first views then begins tens of milliseconds late. A :class:`RenderPool` starts all its
threads when the explorer starts serving and keeps them, so a render only waits for a free one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: at most this many render threads, however many cores
MAX_RENDER_THREADS = 8


def render_threads() -> int:
    """One render thread per core this process may run on (2 to MAX_RENDER_THREADS): a render
    holds the GIL for much of its time, and more threads than cores only take turns at it (8
    first views on 2 cores: p95 about 30 ms with 2 threads, 40-45 ms with 4 or 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
    return max(2, min(cores, MAX_RENDER_THREADS))


class RenderPool:
    """A fixed set of render threads (see the module docstring); ``start`` before serving."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads if threads is not None else render_threads()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every thread now (each waits at a barrier until all exist)."""
        with self._lock:
            if self._executor is not None:
                return
            executor = ThreadPoolExecutor(self.threads, thread_name_prefix="render")
            barrier = threading.Barrier(self.threads)
            waits = [executor.submit(barrier.wait) for _ in range(self.threads)]
            for wait in waits:
                wait.result()
            self._executor = executor

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` on a render thread (the pool starts on first use if not started)."""
        if self._executor is None:
            self.start()
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def shutdown(self) -> None:
        """Let the threads go once their renders are done."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
