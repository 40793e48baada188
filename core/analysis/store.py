"""HDF5-backed cache of processor outputs, safe for concurrent readers and interrupted writers.

Each entry lives in ``/entries/<key>`` with the output's content digest and a ``complete`` flag that
is written last. A reader verifies both (and the format version) and treats a mismatch as a miss,
so an entry torn by a crash or corrupted on disk is recomputed, never returned. Every operation
opens and closes the file under an inter-process lock (shared for reading, exclusive for writing).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relscope.core.analysis.hashing import content_digest, is_sparse
from relscope.core.errors import CacheError

if TYPE_CHECKING:
    import h5py

try:  # POSIX advisory locks between processes; elsewhere only threads are serialised
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

#: bump when the entry layout changes: older entries then read as misses
FORMAT_VERSION = 2
_ENTRIES = "entries"
_SPARSE_PARTS = {"coo": ("row", "col", "data"), "csr": ("indptr", "indices", "data")}


class Store:
    """A cache file of processor outputs; pass it as ``io=`` to a processor or pipeline."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.stats: Counter[str] = Counter()  # hits, misses, writes, corrupted
        self._lock = threading.RLock()
        if self.path.exists() and self.path.is_dir():
            raise CacheError(f"{self.path}: cache path is a directory, expected an HDF5 file")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- locking -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with self._lock:
            try:
                if exclusive:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                lock_file = open(f"{self.path}.lock", "a+b")  # closed by the with below
            except OSError:  # a read-only folder: no other writer can be there either
                yield
                return
            with lock_file:
                if fcntl is not None:
                    fcntl.flock(lock_file, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _open_for_write(self) -> h5py.File:
        import h5py

        try:
            return h5py.File(self.path, "a")
        except OSError as exc:  # a file torn beyond HDF5's repair: keep it aside, start afresh
            broken = self.path.with_name(f"{self.path.name}.broken-{int(time.time())}")
            os.replace(self.path, broken)
            print(
                f"relscope: warning: cache {self.path} unreadable ({exc}); moved to {broken}",
                file=sys.stderr,
            )
            return h5py.File(self.path, "a")

    # -- public API --------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def keys(self) -> list[str]:
        """Keys of the complete entries (none when the file is missing or unreadable)."""
        import h5py

        with self._locked(exclusive=False):
            if not self.path.exists():
                return []
            try:
                with h5py.File(self.path, "r") as handle:
                    group = handle.get(_ENTRIES)
                    if group is None:
                        return []
                    return [key for key, entry in group.items() if _is_complete(entry)]
            except OSError:
                return []

    def info(self, key: str) -> dict[str, Any]:
        """The bookkeeping attributes of entry ``key`` (processor, params, digest, created)."""
        import h5py

        with self._locked(exclusive=False), h5py.File(self.path, "r") as handle:
            return {k: _plain(v) for k, v in handle[f"{_ENTRIES}/{key}"].attrs.items()}

    def load(self, key: str, data: Any = None) -> tuple[Any, str] | None:
        """The cached value of ``key`` and its digest, or None on a miss or a failed check.

        ``data`` is the processor's input, returned for entries that recorded "output is input".
        """
        import h5py

        with self._locked(exclusive=False):
            if not self.path.exists():
                self.stats["misses"] += 1
                return None
            try:
                with h5py.File(self.path, "r") as handle:
                    entry = handle.get(f"{_ENTRIES}/{key}")
                    if entry is None or not _is_complete(entry):
                        self.stats["misses"] += 1
                        return None
                    expected = str(entry.attrs["digest"])
                    value = _read_value(entry["value"], data)
            except Exception as exc:  # a torn file or entry is a miss, never an error
                self._corrupted(key, f"{type(exc).__name__}: {exc}")
                return None
        digest = content_digest(value)
        if digest != expected:
            self._corrupted(key, "content digest mismatch")
            return None
        self.stats["hits"] += 1
        return value, digest

    def save(
        self,
        key: str,
        value: Any,
        *,
        data: Any = None,
        data_digest: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> str:
        """Store ``value`` under ``key`` (replacing any entry) and return its content digest."""
        if value is data and data_digest is not None:
            digest = data_digest
        else:
            digest = content_digest(value)
        if self.readonly:
            return digest
        with self._locked(exclusive=True), self._open_for_write() as handle:
            entries = handle.require_group(_ENTRIES)
            if key in entries:
                del entries[key]
            entry = entries.create_group(key)
            try:
                _write_value(entry, "value", value, data)
            except CacheError:
                del entries[key]
                raise
            for name, item in (info or {}).items():
                entry.attrs[name] = item if isinstance(item, (int, float)) else str(item)
            entry.attrs["digest"] = digest
            entry.attrs["created"] = time.time()
            entry.attrs["format_version"] = FORMAT_VERSION
            handle.flush()
            entry.attrs["complete"] = True  # last: an entry without it is a miss
        self.stats["writes"] += 1
        return digest

    def _corrupted(self, key: str, why: str) -> None:
        self.stats["corrupted"] += 1
        self.stats["misses"] += 1
        print(
            f"relscope: warning: cache entry {key} in {self.path} is invalid ({why}); recomputing",
            file=sys.stderr,
        )


def _is_complete(entry: Any) -> bool:
    attrs = entry.attrs
    return bool(attrs.get("complete", False)) and attrs.get("format_version") == FORMAT_VERSION


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_reshape_of(value: Any, data: Any) -> bool:
    """Whether ``value`` is a C-contiguous reshaped view of all of ``data``'s bytes."""
    return (
        isinstance(value, np.ndarray)
        and isinstance(data, np.ndarray)
        and value.dtype == data.dtype
        and value.nbytes == data.nbytes
        and value.flags.c_contiguous
        and data.flags.c_contiguous
        and value.__array_interface__["data"][0] == data.__array_interface__["data"][0]
    )


def _write_value(parent: h5py.Group, name: str, value: Any, data: Any) -> None:
    if value is data and data is not None:
        parent.create_group(name).attrs["kind"] = "input"
    elif _is_reshape_of(value, data) and value.size:  # e.g. a flatten: no copy of the bytes
        group = parent.create_group(name)
        group.attrs["kind"] = "reshape"
        group.attrs["shape"] = np.asarray(value.shape, dtype=np.int64)
    elif value is None:
        parent.create_group(name).attrs["kind"] = "none"
    elif isinstance(value, np.ndarray):
        if value.dtype.hasobject or value.dtype.kind in "UMm":
            raise CacheError(f"cannot cache an array of dtype {value.dtype}")
        parent.create_dataset(name, data=value)
    elif is_sparse(value):
        fmt = value.format if value.format in _SPARSE_PARTS else "csr"
        group = parent.create_group(name)
        group.attrs.update(kind="sparse", format=value.format, cls=type(value).__name__)
        group.attrs["shape"] = np.asarray(value.shape, dtype=np.int64)
        converted = value.asformat(fmt)
        group.attrs["stored_format"] = fmt
        for part in _SPARSE_PARTS[fmt]:
            group.create_dataset(part, data=getattr(converted, part))
    elif isinstance(value, (tuple, list)):
        group = parent.create_group(name)
        group.attrs.update(kind=type(value).__name__, length=len(value))
        for i, item in enumerate(value):
            _write_value(group, f"{i:06d}", item, data)
    elif isinstance(value, Mapping):
        group = parent.create_group(name)
        group.attrs.update(kind="dict", length=len(value))
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CacheError(f"cannot cache a dict key of type {type(key).__name__}")
            _write_value(group, f"{i:06d}", item, data)
            group[f"{i:06d}"].attrs["key"] = json.dumps(key)
    elif isinstance(value, (bool, int, float, str, np.generic)):
        group = parent.create_group(name)
        group.attrs.update(kind="scalar", type=type(value).__name__)
        group.attrs["value"] = json.dumps(value.item() if isinstance(value, np.generic) else value)
        if isinstance(value, np.generic):
            group.attrs["dtype"] = value.dtype.str
    else:
        raise CacheError(f"cannot cache a value of type {type(value).__name__}")


def _sparse_class(name: str) -> type:
    """The scipy.sparse matrix or array class called ``name`` (scipy is imported here)."""
    import scipy.sparse as sp

    cls = getattr(sp, name, None)
    if not (name.endswith(("_matrix", "_array")) and isinstance(cls, type)):
        raise KeyError(name)
    return cls


_SCALARS = {"bool": bool, "int": int, "float": float, "str": str}


def _read_value(node: Any, data: Any) -> Any:
    import h5py

    if isinstance(node, h5py.Dataset):
        return np.array(node[()]) if node.shape == () else node[()]
    kind = str(node.attrs["kind"])
    if kind == "input":
        return data
    if kind == "reshape":
        return np.asarray(data).reshape(tuple(int(n) for n in node.attrs["shape"]))
    if kind == "none":
        return None
    if kind == "sparse":
        shape = tuple(int(n) for n in node.attrs["shape"])
        stored = str(node.attrs["stored_format"])
        cls = _sparse_class(str(node.attrs["cls"]).replace(str(node.attrs["format"]), stored, 1))
        parts = [node[p][()] for p in _SPARSE_PARTS[stored]]
        if stored == "coo":
            matrix = cls((parts[2], (parts[0], parts[1])), shape=shape)
        else:
            matrix = cls((parts[2], parts[1], parts[0]), shape=shape)
        return matrix.asformat(str(node.attrs["format"]))
    if kind in ("tuple", "list"):
        items = [_read_value(node[f"{i:06d}"], data) for i in range(int(node.attrs["length"]))]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        result = {}
        for i in range(int(node.attrs["length"])):
            child = node[f"{i:06d}"]
            result[json.loads(child.attrs["key"])] = _read_value(child, data)
        return result
    if kind == "scalar":
        value = json.loads(node.attrs["value"])
        if "dtype" in node.attrs:
            return np.dtype(str(node.attrs["dtype"])).type(value)
        return _SCALARS[str(node.attrs["type"])](value)
    raise CacheError(f"unknown cache entry kind {kind!r}")
