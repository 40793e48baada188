"""Small datasets decoded whole in the background, one chunk row at a time, behind the requests.

A server that opens a project can decode its small input and attribution datasets before anyone
asks, so a person's first click finds its sample decoded. One :class:`ReadAhead` thread per block
cache works through the datasets in the order they were queued. It yields to requests: it starts
no chunk row while a request is in flight (a server counts its requests with
:meth:`ReadAhead.request_started` / :meth:`ReadAhead.request_finished`; readers count their own
decodes) nor within ``QUIET_S`` of the last one; a request arriving while it decodes a chunk row
makes it drop that row at its next chunk (:class:`Yielded`, tried again later), and it skips a
chunk row a request is decoding, so a request for a row not yet read ahead is decoded at once by
its own thread, with the cores to itself. A memory
budget bounds it: a dataset larger than ``dataset_bytes`` decoded, or one that would take the
total read ahead past ``budget_bytes``, is left to the requests.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

#: the read-ahead starts a chunk row only this long after the last request finished, in s (its
#: decoding holds the GIL in short steps, which would delay a burst of requests)
QUIET_S = 0.02


class Yielded(Exception):
    """The read-ahead dropped the chunk row it was decoding: a request came in."""


class ReadAhead:
    """A background decoder of whole datasets for one cache (see the module docstring).

    A dataset is queued as ``blocks``, a callable giving one ``decode`` callable per chunk row
    (and stopping when the cache is full); ``decode()`` decodes and keeps that row unless it is
    held or being decoded already, and says whether it did.
    """

    def __init__(self, dataset_bytes: int, budget_bytes: int) -> None:
        self.dataset_bytes = dataset_bytes
        self.budget_bytes = budget_bytes
        self.reserved = 0
        self._queued: set[Hashable] = set()
        self._jobs: collections.deque[tuple[Hashable, Callable[[], Iterator[Any]]]] = (
            collections.deque()
        )
        self._lock = threading.Condition()
        self._busy = 0  # requests in flight now
        self._last_request = 0.0  # time.monotonic() when the last one finished
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._running = False
        #: chunk rows this read-ahead decoded itself (not those a request decoded first)
        self.decoded = 0
        #: chunk rows it dropped part-way for a request (and decoded later, or left to it)
        self.yielded = 0

    def add(self, key: Hashable, nbytes: int, blocks: Callable[[], Iterator[Any]]) -> bool:
        """Queue the dataset ``key`` (once) when it fits the budget; returns whether it is queued."""
        with self._lock:
            if key in self._queued:
                return True
            if self._stopped or nbytes > self.dataset_bytes:
                return False
            if self.reserved + nbytes > self.budget_bytes:
                return False
            self._queued.add(key)
            self.reserved += nbytes
            self._jobs.append((key, blocks))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)
                self._thread.start()
            self._lock.notify_all()
            return True

    def request_started(self) -> None:
        """A request began (or began decoding a chunk row): hold the read-ahead back."""
        with self._lock:
            self._busy += 1

    def request_finished(self) -> None:
        """That request finished."""
        with self._lock:
            self._busy -= 1
            self._last_request = time.monotonic()
            if self._busy == 0:
                self._lock.notify_all()

    def yielding(self, step: Callable[..., T]) -> Callable[..., T]:
        """``step`` (one chunk's inflate) raising :class:`Yielded` first when a request is in
        flight, so the read-ahead stops mid-row for it."""

        def checked(*args: Any, **kwargs: Any) -> T:
            if self._busy:
                raise Yielded
            return step(*args, **kwargs)

        return checked

    def stop(self) -> None:
        """Stop after the chunk row in progress (the files are about to close)."""
        with self._lock:
            self._stopped = True
            self._jobs.clear()
            self._lock.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued dataset is read ahead (or given up); True when idle."""
        thread = self._thread
        if thread is None:
            return True
        with self._lock:
            return self._lock.wait_for(lambda: not self._jobs and not self._running, timeout)

    def _quiet(self) -> bool:
        """Wait until no request is in flight and none finished within ``QUIET_S``; False once
        stopped."""
        with self._lock:
            while not self._stopped:
                if self._busy:
                    self._lock.wait()
                    continue
                left = self._last_request + QUIET_S - time.monotonic()
                if left <= 0:
                    return True
                self._lock.wait(left)
            return False

    def _run(self) -> None:
        # no lower CPU priority: it yields to requests itself, and a niced thread on a busy
        # machine (or under a niced server) is starved by other processes, so small files would
        # not be decoded by the time a person clicks
        while True:
            with self._lock:
                while not self._jobs and not self._stopped:
                    self._running = False
                    self._lock.notify_all()
                    self._lock.wait()
                if self._stopped:
                    self._running = False
                    self._lock.notify_all()
                    return
                _, blocks = self._jobs.popleft()
                self._running = True
            try:
                for decode in blocks():
                    if not self._step(decode):
                        break
            except Exception:  # the file was closed under it: a request will say what is wrong
                pass

    def _step(self, decode: Callable[[], bool]) -> bool:
        """Decode one chunk row when requests leave it room, again after yielding to them;
        False once stopped."""
        while self._quiet():
            try:
                decoded = decode()
            except Yielded:
                with self._lock:
                    self.yielded += 1
                continue
            if decoded:  # else held already, or a request decodes it
                with self._lock:
                    self.decoded += 1
            return True
        return False
