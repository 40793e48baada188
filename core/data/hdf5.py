"""Opening HDF5 files and reaching their keys with one-line errors that name the file and key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from relscope.core.errors import DataFormatError


def open_hdf5(path: str | os.PathLike[str], what: str = "HDF5 file") -> h5py.File:
    """Open ``path`` read-only; a missing, unreadable or corrupt file is a DataFormatError."""
    source = str(path)
    if not Path(path).exists():
        raise DataFormatError(f"{source}: {what} not found")
    if Path(path).is_dir():
        raise DataFormatError(f"{source}: expected an {what}, found a folder")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(f"{source}: not a readable {what} ({reason})") from None


class PerProcessHdf5:
    """Mixin for a source reading ``self.path``: one lazily opened read-only handle per process
    (reopened after a fork, dropped when pickled), so it can go to DataLoader worker processes."""

    path: Path
    _file: h5py.File | None = None
    _pid: int | None = None

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = open_hdf5(self.path, "input HDF5 file")
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        """Close the HDF5 handle of this process."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state


class NodeLookup:
    """``file[key]`` remembered for the file object it came from: h5py's lookup of a name costs
    about 80 us, more than a cached row, and a server reads one row per request. Pickles without
    the node (a worker process opens its own file)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._last: tuple[h5py.File, Any] | None = None

    def __call__(self, file: h5py.File) -> Any:
        """``file[self.key]``, looked up once per file object."""
        last = self._last  # one tuple, so threads never pair a node with another file
        if last is None or last[0] is not file:
            last = (file, file[self.key])
            self._last = last
        return last[1]

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "_last": None}


def require(file: h5py.File, key: str, source: str) -> h5py.Dataset | h5py.Group:
    """``file[key]``, or a DataFormatError naming the file and the missing key."""
    if key not in file:
        raise DataFormatError(f"{source}: missing key {key!r}")
    try:
        return file[key]
    except (KeyError, OSError) as exc:
        raise DataFormatError(f"{source}: key {key!r} cannot be read ({exc})") from None


def member_names(group: h5py.Group) -> list[str]:
    """The per-sample member names of a group, sorted (zero-padded names sort numerically)."""
    return sorted(group.keys())


def row_count(node: h5py.Dataset | h5py.Group, key: str, source: str) -> int:
    """Number of samples held by a dataset (first axis) or a group (members)."""
    if isinstance(node, h5py.Group):
        return len(node)
    if node.ndim == 0:
        raise DataFormatError(f"{source}: key {key!r} is a scalar, expected one row per sample")
    return int(node.shape[0])
