"""Rows of a chunked HDF5 dataset read one chunk row at a time, decoded once, kept in a bounded LRU.

A dataset chunked ``(R, ...)`` keeps R samples in every chunk (h5py's own chunking, which ViRelAy's
files use, also splits each sample over several chunks): reading one sample inflates every chunk it
touches, and the next sample of the same chunks inflates them all again, each time inside h5py's
global lock. A :class:`BlockRows` reader instead fetches the raw chunk bytes of the sample's whole
chunk row under that lock (a quick copy), inflates and un-shuffles them outside it (``zlib`` and
numpy release the GIL, so several blocks decode in parallel), and keeps the decoded block of R rows
in a :class:`DecodedBlockCache`, so the block's other samples cost a slice. Concurrent readers of
one block wait on a single decode. Filters other than deflate and shuffle, virtual or contiguous
layouts, unallocated chunks and non-numeric types fall back to h5py's own reading, with the same
values.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import h5py
import numpy as np

from relscope.core.data.chunk_layout import ChunkLayout
from relscope.core.data.read_ahead import ReadAhead

try:  # ISA-L's inflate (optional extra ``explorer``): about twice zlib's speed, same bytes, no GIL
    from isal.isal_zlib import IsalError as _InflateError
    from isal.isal_zlib import decompress as _fast_inflate

    _PREFIX_FRACTION = 0.45  # zlib's prefix of a chunk costs less than ISA-L's whole chunk
except ImportError:  # pragma: no cover - exercised where isal is not installed
    _fast_inflate = zlib.decompress
    _InflateError = zlib.error
    _PREFIX_FRACTION = 1.0

#: default bound of the decoded blocks one cache keeps, in bytes
CACHE_BYTES = 64 * 1024 * 1024
#: the deflate decoder used unless a caller names one (ISA-L's where installed, else zlib's)
INFLATE: Callable[..., bytes] = _fast_inflate
#: the streaming decoder of partial blocks: zlib's stops after ``max_length`` bytes (ISA-L's
#: inflates whole deflate blocks whatever it is asked for)
INFLATER: Callable[[], Any] = zlib.decompressobj
#: a first view of row r of a chunk row of R rows inflates only the chunks' first r + 1 rows
#: (zlib) when (r + 1) / R is at most this, else the whole chunk row (the faster whole decoder)
PREFIX_FRACTION = _PREFIX_FRACTION
#: at most this many chunk rows are held partly inflated at once
PARTIAL_BLOCKS = 16
_READ_ERRORS = (OSError, KeyError, ValueError, RuntimeError, zlib.error, _InflateError)


class DecodedBlockCache:
    """Least-recently-used decoded blocks, at most ``max_bytes`` in all; one decode per block.

    A block larger than a quarter of ``max_bytes`` is decoded for its reader and not kept.
    ``decodes`` counts the decodes run (cache misses). With ``read_ahead_bytes``, a dataset whose
    decoded size is at most that is decoded whole in the background (:class:`ReadAhead`, started
    by :meth:`BlockRows.read_ahead` or else by its first read), as long as it fits without evicting
    anything and the datasets read ahead stay within ``read_ahead_budget`` (default: half of
    ``max_bytes``), so a person's next click finds its sample decoded.
    """

    def __init__(
        self,
        max_bytes: int = CACHE_BYTES,
        read_ahead_bytes: int = 0,
        read_ahead_budget: int | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.read_ahead_bytes = read_ahead_bytes
        budget = max_bytes // 2 if read_ahead_budget is None else read_ahead_budget
        #: the background decoder of small datasets (None without ``read_ahead_bytes``)
        self.read_ahead = ReadAhead(read_ahead_bytes, budget) if read_ahead_bytes else None
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Event] = {}
        self._partials: OrderedDict[Hashable, PartialBlock] = OrderedDict()
        #: chunk rows whose inflating started (a block is decoded once, whole or bit by bit)
        self.decodes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def get(self, key: Hashable) -> np.ndarray | None:
        """The block of ``key`` if held (marked recently used), else None."""
        with self._lock:
            block = self._items.get(key)
            if block is not None:
                self._items.move_to_end(key)
            return block

    def keep(self, key: Hashable, block: np.ndarray) -> None:
        """Hold ``block`` (made read-only) under ``key``, evicting the least recently used."""
        block.flags.writeable = False
        with self._lock:
            if key in self._items:
                return
        self._keep(key, block)

    def counted(self) -> None:
        """Note that a block's decoding started."""
        with self._lock:
            self.decodes += 1

    def partial(self, key: Hashable, make: Callable[[], PartialBlock]) -> PartialBlock:
        """The partly inflated block of ``key``, made (and counted) when there is none; the
        oldest partial blocks are dropped beyond :data:`PARTIAL_BLOCKS` or half of
        ``max_bytes``."""
        with self._lock:
            found = self._partials.get(key)
            if found is not None:
                return found
        made = make()  # reads the raw chunks (under h5py's lock), outside ours
        with self._lock:
            found = self._partials.get(key)
            if found is not None:
                return found
            self._partials[key] = made
            self.decodes += 1
            held = sum(block.nbytes for block in self._partials.values())
            while len(self._partials) > 1 and (
                len(self._partials) > PARTIAL_BLOCKS or held > self.max_bytes // 2
            ):
                _, dropped = self._partials.popitem(last=False)
                held -= dropped.nbytes
            return made

    def find_partial(self, key: Hashable) -> PartialBlock | None:
        """The partly inflated block of ``key``, if any (left in place)."""
        with self._lock:
            return self._partials.get(key)

    def take_partial(self, key: Hashable) -> PartialBlock | None:
        """Remove and return the partly inflated block of ``key``, if any."""
        with self._lock:
            return self._partials.pop(key, None)

    def has_room(self, nbytes: int) -> bool:
        """True when ``nbytes`` more fit without evicting anything."""
        with self._lock:
            return self._size + nbytes <= self.max_bytes

    def _keep(self, key: Hashable, block: np.ndarray) -> None:
        if block.nbytes > self.max_bytes // 4:
            return
        with self._lock:
            self._items[key] = block
            self._size += block.nbytes
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= evicted.nbytes

    def decode_if_absent(self, key: Hashable, decode: Callable[[], np.ndarray]) -> bool:
        """Decode and keep the block of ``key`` unless it is held or being decoded; True when this
        call decoded it (the read-ahead's step: it never waits on a request's decode)."""
        with self._lock:
            if key in self._items or key in self._pending:
                return False
            self._pending[key] = threading.Event()
        try:
            block = decode()
            block.flags.writeable = False
            self._keep(key, block)
            return True
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def get_or_decode(self, key: Hashable, decode: Callable[[], np.ndarray]) -> np.ndarray:
        """The block of ``key`` (read-only), decoding it once while other callers wait."""
        while True:
            with self._lock:
                block = self._items.get(key)
                if block is not None:
                    self._items.move_to_end(key)
                    return block
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    break
            waiting.wait()  # another thread decodes it; then look again (it may have failed)
        try:
            block = decode()
            block.flags.writeable = False
            self._keep(key, block)
            return block
        finally:
            with self._lock:
                self._pending.pop(key).set()


def _decode_chunk(
    raw: bytes,
    mask: int,
    codes: list[int],
    dtype: np.dtype,
    inflate: Callable[..., bytes],
    nbytes: int,
) -> np.ndarray:
    """One stored chunk of ``nbytes`` decoded back to its elements: the filters undone in reverse
    pipeline order. The inflater is given the decoded size, so it inflates into one buffer in one
    call outside the GIL (with its default buffer it takes the GIL back to grow it, and threads
    decoding side by side then run one at a time)."""
    data = raw
    for position in reversed(range(len(codes))):
        if mask & (1 << position):
            continue  # this filter was skipped for this chunk
        if codes[position] == h5py.h5z.FILTER_DEFLATE:
            data = inflate(data, bufsize=nbytes)
        else:  # shuffle: byte k of every element stored together
            size = dtype.itemsize
            planes = np.frombuffer(data, dtype=np.uint8)
            count = planes.size // size
            rest = planes[count * size :]
            data = planes[: count * size].reshape(size, count).T.tobytes() + rest.tobytes()
    return np.frombuffer(data, dtype=dtype)


def read_block(
    dataset: h5py.Dataset,
    start: int,
    stop: int,
    inflate: Callable[..., bytes] | None = None,
    layout: ChunkLayout | None = None,
) -> np.ndarray:
    """Rows ``start:stop`` of ``dataset`` (one chunk row), decoded from the raw chunks where the
    filters allow, else read by h5py; equal to ``dataset[start:stop]`` either way. ``inflate``
    replaces the deflate decoder (default :data:`INFLATE`; called as ``inflate(data, bufsize=n)``
    like ``zlib.decompress``); ``layout`` is the dataset's, when the caller keeps it."""
    inflate = inflate or INFLATE
    layout = layout or ChunkLayout(dataset)
    codes = layout.codes
    if codes is None or layout.chunk is None:
        return np.asarray(dataset[start:stop])
    chunk, dtype, chunk_bytes = layout.chunk, layout.dtype, layout.chunk_bytes
    block = np.empty((stop - start, *layout.shape[1:]), dtype=dtype)
    rows = slice(0, stop - start)
    read = dataset.id.read_direct_chunk
    try:
        for corner, target, fit in zip(layout.corners, layout.targets, layout.fits):
            mask, raw = read((start, *corner))
            values = _decode_chunk(raw, mask, codes, dtype, inflate, chunk_bytes).reshape(chunk)
            block[target] = values[(rows, *fit)]
    except _READ_ERRORS:
        # an unallocated chunk (fill value), a damaged one: let HDF5 say what it holds
        return np.asarray(dataset[start:stop])
    return block


class PartialBlock:
    """One chunk row of a deflate-only dataset, inflated only as far as the rows asked for.

    Every chunk of the row keeps its inflate stream; asking for row r inflates each stream up to
    the end of row r (on average half a chunk for the first view of a block), and a later row
    continues from there, so every byte is still inflated once. When the last row is reached the
    whole block is assembled for :class:`DecodedBlockCache`.
    """

    def __init__(
        self, dataset: h5py.Dataset, start: int, stop: int, layout: ChunkLayout | None = None
    ) -> None:
        self.layout = layout or ChunkLayout(dataset)
        assert self.layout.chunk is not None
        self.chunk = self.layout.chunk
        self.shape = self.layout.shape
        self.dtype = self.layout.dtype
        self.start, self.rows = start, stop - start
        self.corners = self.layout.corners
        self.row_bytes = self.layout.row_bytes
        chunk_bytes = self.layout.chunk_bytes
        self.buffers = [np.empty(chunk_bytes, dtype=np.uint8) for _ in self.corners]
        self.filled = [0] * len(self.corners)
        self.streams: list[Any] = []
        self.tails: list[bytes] = []
        for number, corner in enumerate(self.corners):
            mask, raw = dataset.id.read_direct_chunk((start, *corner))
            if mask & 1:  # deflate skipped for this chunk: stored as is
                self.buffers[number][: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
                self.filled[number] = len(raw)
                self.streams.append(None)
                self.tails.append(b"")
            else:
                self.streams.append(INFLATER())
                self.tails.append(raw)
        self.decoded_rows = 0
        self.lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of the buffers (the whole chunk row once inflated)."""
        return sum(buffer.nbytes for buffer in self.buffers)

    def _inflate_to(self, rows: int) -> None:
        need = rows * self.row_bytes
        for number, stream in enumerate(self.streams):
            while self.filled[number] < need:
                if stream is None:
                    raise ValueError("a stored chunk is shorter than its rows")
                data = stream.decompress(self.tails[number], need - self.filled[number])
                self.tails[number] = stream.unconsumed_tail
                if not data:
                    raise ValueError("a deflate stream ended before its chunk's rows")
                at = self.filled[number]
                self.buffers[number][at : at + len(data)] = np.frombuffer(data, dtype=np.uint8)
                self.filled[number] += len(data)
        self.decoded_rows = max(self.decoded_rows, rows)

    def _place(self, out: np.ndarray, rows: slice) -> None:
        """Copy ``rows`` (of the block) from the chunk buffers into ``out`` (rows first)."""
        count = rows.stop - rows.start
        shape = (count, *self.chunk[1:])
        elements = count * self.row_bytes // self.dtype.itemsize
        offset = rows.start * self.row_bytes
        layout = self.layout
        for buffer, target, fit in zip(self.buffers, layout.targets, layout.fits, strict=True):
            values = np.frombuffer(buffer, dtype=self.dtype, count=elements, offset=offset)
            out[target] = values.reshape(shape)[(slice(None), *fit)]

    def row(self, row: int) -> np.ndarray:
        """Row ``row`` of the block (a new array), inflating the streams as far as it."""
        with self.lock:
            if self.decoded_rows <= row:
                self._inflate_to(row + 1)
            out = np.empty((1, *self.shape[1:]), dtype=self.dtype)
            self._place(out, slice(row, row + 1))
            return out[0]

    def block(self) -> np.ndarray:
        """The whole block, inflating what is left."""
        with self.lock:
            self._inflate_to(self.rows)
            out = np.empty((self.rows, *self.shape[1:]), dtype=self.dtype)
            self._place(out, slice(0, self.rows))
            return out


class BlockRows:
    """Rows of one dataset of one file, read through ``cache`` one chunk row at a time.

    ``key`` names the dataset among everything the cache holds (e.g. ``(path, "data")``).
    Datasets that are not chunked (contiguous, virtual) are read a row at a time, as h5py does.
    """

    def __init__(self, cache: DecodedBlockCache, key: Hashable) -> None:
        self.cache = cache
        self.key = key
        self._ahead: bool | None = None  # whether the read-ahead took this dataset, once asked
        self._layout: ChunkLayout | None = None

    def layout(self, dataset: h5py.Dataset) -> ChunkLayout:
        """The chunk layout of the dataset this reader reads (worked out on first use)."""
        if self._layout is None:
            self._layout = ChunkLayout(dataset)
        return self._layout

    def _decoder(
        self,
        dataset: h5py.Dataset,
        start: int,
        rows_per_chunk: int,
        inflate: Callable[..., bytes] | None = None,
    ) -> Callable[[], np.ndarray]:
        """The decode of the whole block at ``start`` (finishing a partly inflated one);
        ``inflate`` as for :func:`read_block`."""
        stop = min(start + rows_per_chunk, dataset.shape[0])
        key = (self.key, start)

        def decode() -> np.ndarray:
            partial = self.cache.take_partial(key)
            if partial is not None and partial.decoded_rows >= partial.rows * PREFIX_FRACTION:
                try:  # finishing it costs less than starting over
                    return partial.block()
                except _READ_ERRORS:
                    pass
            block = read_block(dataset, start, stop, inflate, self.layout(dataset))
            self.cache.counted()  # once decoded (a row the read-ahead dropped is not counted)
            return block

        return decode

    def _block(self, dataset: h5py.Dataset, start: int, rows_per_chunk: int) -> np.ndarray:
        """The whole decoded block at ``start``, decoded once whoever asks."""
        return self.cache.get_or_decode(
            (self.key, start), self._decoder(dataset, start, rows_per_chunk)
        )

    def _partial_row(self, dataset: h5py.Dataset, row: int, start: int, stop: int) -> np.ndarray:
        """Row ``row`` through the block's partial inflate; the block is kept once complete."""
        key = (self.key, start)
        layout = self.layout(dataset)
        partial = self.cache.partial(key, lambda: PartialBlock(dataset, start, stop, layout))
        value = partial.row(row - start)
        if partial.decoded_rows >= partial.rows and self.cache.take_partial(key) is partial:
            self.cache.keep(key, partial.block())
        return value

    def row(self, dataset: h5py.Dataset, row: int) -> np.ndarray:
        """Row ``row`` of ``dataset`` as h5py would return it (an independent, writable copy)."""
        rows_per_chunk = dataset.chunks[0] if dataset.chunks is not None else None
        if rows_per_chunk is None or dataset.is_virtual:
            return np.asarray(dataset[row])
        start = (row // rows_per_chunk) * rows_per_chunk
        block = self.cache.get((self.key, start))
        if block is not None:
            return np.array(block[row - start])
        ahead = self.cache.read_ahead
        if ahead is not None:
            ahead.request_started()  # the read-ahead waits while requests decode
        try:
            value = self._decoded_row(dataset, row, start, rows_per_chunk)
        finally:
            if ahead is not None:
                ahead.request_finished()
        self.read_ahead(dataset)
        return value

    def _decoded_row(
        self, dataset: h5py.Dataset, row: int, start: int, rows_per_chunk: int
    ) -> np.ndarray:
        """Row ``row`` of a block not held: through a partial inflate when that is worth it."""
        stop = min(start + rows_per_chunk, dataset.shape[0])
        if self._prefix_worth(dataset, start, row - start, stop - start):
            try:
                return self._partial_row(dataset, row, start, stop)
            except _READ_ERRORS:
                self.cache.take_partial((self.key, start))  # decode it whole below instead
        block = self._block(dataset, start, rows_per_chunk)
        return np.array(block[row - start])

    def _prefix_worth(self, dataset: h5py.Dataset, start: int, offset: int, rows: int) -> bool:
        """Whether row ``offset`` of the block of ``rows`` at ``start`` is best read by partial
        inflating (deflate alone, the block small enough, and the row early or already reached)."""
        if not self.layout(dataset).row_prefix_decodable:
            return False
        if dataset.nbytes // max(dataset.shape[0], 1) * rows > self.cache.max_bytes // 4:
            return False
        partial = self.cache.find_partial((self.key, start))
        reached = partial.decoded_rows if partial is not None else 0
        return offset < reached or offset + 1 <= rows * PREFIX_FRACTION

    def read_ahead(self, dataset: h5py.Dataset) -> bool:
        """Queue ``dataset`` (read through this reader) for the cache's background read-ahead;
        True when it is queued (small enough, within the budget, chunked)."""
        if self._ahead is not None:
            return self._ahead
        ahead = self.cache.read_ahead
        if ahead is None or dataset.chunks is None or dataset.is_virtual:
            return False
        self._ahead = ahead.add(self.key, dataset.nbytes, lambda: self._blocks(dataset))
        return self._ahead

    def _blocks(self, dataset: h5py.Dataset) -> Iterator[Callable[[], bool]]:
        """One read-ahead step per block of ``dataset``, while the cache has room for it."""
        rows_per_chunk = dataset.chunks[0]
        block_bytes = dataset.nbytes * min(rows_per_chunk, dataset.shape[0])
        block_bytes //= max(dataset.shape[0], 1)
        ahead = self.cache.read_ahead
        assert ahead is not None
        # INFLATE looked up at each call (a test may slow it down), checking for requests first
        inflate = ahead.yielding(lambda data, bufsize: INFLATE(data, bufsize=bufsize))
        for start in range(0, dataset.shape[0], rows_per_chunk):
            if not self.cache.has_room(block_bytes):
                return
            decode = self._decoder(dataset, start, rows_per_chunk, inflate)
            yield functools.partial(self.cache.decode_if_absent, (self.key, start), decode)
