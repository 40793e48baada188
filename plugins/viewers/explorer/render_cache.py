"""An in-memory LRU of rendered responses (PNG images, points payloads) with their ETags.

Rendering a heatmap reads HDF5 and encodes a PNG; the cache keeps the bytes under a key made of
every parameter that changes them, bounded by total size. Concurrent requests for one key wait
for a single render instead of rendering it many times.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import attrs


@attrs.frozen
class CachedBody:
    """Response bytes with their strong ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> CachedBody:
        """Wrap ``body`` and compute its ETag (a short content hash)."""
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(body, f'"{digest}"')


class RenderCache:
    """Least-recently-used cache of :class:`CachedBody` bounded by ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, CachedBody] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def get(self, key: Hashable) -> CachedBody | None:
        """The cached body of ``key`` (and mark it recently used, counted as a hit), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return item

    def put(self, key: Hashable, item: CachedBody) -> None:
        """Store ``item``, evicting the least recently used entries beyond ``max_bytes``."""
        if len(item.body) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._items[key] = item
            self._size += len(item.body)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted.body)

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> CachedBody:
        """The cached body of ``key``, rendering it once (other callers wait) when missing."""
        while True:
            with self._lock:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return item
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    self.misses += 1
                    break
            waiting.wait()  # another thread renders it; then look again (it may have failed)
        try:
            item = CachedBody.of(render())
            self.put(key, item)
            return item
        finally:
            with self._lock:
                self._pending.pop(key).set()
