"""Content digests of processor inputs and outputs: the exact bytes, dtype, shape and structure.

Two values have the same digest only when they hold the same bytes in the same structure, so a
digest can key a cache entry (as input) and verify one on read (as output checksum).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from relscope.core.errors import CacheError

#: hex characters kept of each SHA-256 digest (160 bits); SHA-256 runs at memory speed where the
#: CPU has SHA instructions, about twice BLAKE2b's rate on the machines this was measured on
DIGEST_CHARS = 40


def is_sparse(value: Any) -> bool:
    """``scipy.sparse.issparse`` without importing scipy: no sparse value exists before it is."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))


def _feed(h: Any, value: Any) -> None:
    if value is None:
        h.update(b"N")
    elif isinstance(value, (bool, np.bool_)):
        h.update(b"B1" if value else b"B0")
    elif isinstance(value, (int, float, complex, str, bytes, np.generic)):
        h.update(f"S{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise CacheError(f"cannot digest an object array ({value.dtype})")
        h.update(f"A{value.dtype.str}{value.shape};".encode())
        h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
    elif is_sparse(value):
        h.update(f"P{type(value).__name__}:{value.format}{value.shape};".encode())
        parts = ("row", "col", "data") if value.format == "coo" else None
        if parts is None and value.format in ("csr", "csc", "bsr"):
            parts = ("indptr", "indices", "data")
        if parts is None:
            value = value.tocsr()
            parts = ("indptr", "indices", "data")
        for name in parts:
            _feed(h, getattr(value, name))
    elif isinstance(value, (tuple, list)):
        h.update(f"{'T' if isinstance(value, tuple) else 'L'}{len(value)}(".encode())
        for item in value:
            _feed(h, item)
        h.update(b")")
    elif isinstance(value, Mapping):
        h.update(f"D{len(value)}{{".encode())
        for key, item in value.items():
            _feed(h, key)
            _feed(h, item)
        h.update(b"}")
    else:
        raise CacheError(f"cannot digest a value of type {type(value).__name__}")


def content_digest(value: Any) -> str:
    """Hex digest of ``value``: arrays, sparse matrices, tuples, lists, dicts and scalars."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:DIGEST_CHARS]


def text_digest(*parts: str) -> str:
    """Hex digest of several strings, separated so that ``("ab", "c") != ("a", "bc")``."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:DIGEST_CHARS]
