"""Encode array rows into HDF5 chunks ourselves (shuffle + deflate), off the HDF5 library's lock.

``zlib`` releases the GIL, so batches compress on worker threads while the model attributes the
next batch; the encoded chunks are later copied into the file byte for byte with
``write_direct_chunk``, never compressed twice. The bytes are exactly what HDF5's own ``shuffle``
and ``gzip`` (deflate) filters produce, so any HDF5 reader decodes them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np

#: deflate level of attribution chunks (1: float relevance barely compresses further at 4-9)
COMPRESSION_LEVEL = 1


def hdf5_shuffle(chunk: np.ndarray) -> bytes:
    """HDF5's shuffle filter: byte 0 of every element, then byte 1 of every element, ..."""
    flat = np.ascontiguousarray(chunk).reshape(-1)
    return flat.view(np.uint8).reshape(flat.size, chunk.dtype.itemsize).T.tobytes()


def encode_chunk(chunk: np.ndarray, level: int = COMPRESSION_LEVEL) -> bytes:
    """One chunk's stored bytes: shuffled and deflated, or raw when ``level`` is 0."""
    if level == 0:
        return np.ascontiguousarray(chunk).tobytes()
    return zlib.compress(hdf5_shuffle(chunk), level)


def split_chunks(rows: np.ndarray, rows_per_chunk: int) -> list[np.ndarray]:
    """Rows in chunk-sized pieces; the last one zero-padded to a whole chunk (HDF5 stores whole
    chunks, the dataset's extent hides the padding)."""
    pieces = []
    for start in range(0, rows.shape[0], rows_per_chunk):
        piece = rows[start : start + rows_per_chunk]
        if piece.shape[0] < rows_per_chunk:
            padded = np.zeros((rows_per_chunk, *rows.shape[1:]), dtype=rows.dtype)
            padded[: piece.shape[0]] = piece
            piece = padded
        pieces.append(piece)
    return pieces


def encode_rows(
    rows: np.ndarray,
    rows_per_chunk: int,
    level: int = COMPRESSION_LEVEL,
    pool: Executor | None = None,
) -> list[bytes]:
    """Encode ``rows`` (first axis = samples) chunk by chunk, in parallel on ``pool`` if given."""
    pieces = split_chunks(rows, rows_per_chunk)
    if pool is None:
        return [encode_chunk(piece, level) for piece in pieces]
    return list(pool.map(lambda piece: encode_chunk(piece, level), pieces))


def pack_chunks(chunks: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Chunks as one uint8 array plus their sizes (for storing in an ``.npz``)."""
    sizes = np.asarray([len(chunk) for chunk in chunks], dtype=np.int64)
    return np.frombuffer(b"".join(chunks), dtype=np.uint8), sizes


def unpack_chunks(data: np.ndarray, sizes: np.ndarray) -> list[bytes]:
    """Inverse of :func:`pack_chunks`."""
    ends = np.cumsum(sizes)
    starts = ends - sizes
    raw = data.tobytes()
    return [raw[int(s) : int(e)] for s, e in zip(starts, ends, strict=True)]


def rows_per_chunk_for(batch_size: int, target_rows: int) -> int:
    """The largest divisor of ``batch_size`` not above ``target_rows`` (chunks never straddle
    batches, so each batch's chunks can be encoded on their own)."""
    best = 1
    for rows in range(1, min(batch_size, max(target_rows, 1)) + 1):
        if batch_size % rows == 0:
            best = rows
    return best
