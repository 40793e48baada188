"""The concepts files a served project names, opened once per file version, layer by layer.

A project may name several ``concepts.h5`` (``project.concepts.sources``); a layer is read from
the first file that holds it. Per-layer relevances and activations (N, C) and the row of every
dataset index are kept in memory after the first read (small: channels per sample), the
reference heatmaps are read one at a time. Only h5py and numpy: the explorer stays torch-free.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from relscope.core.errors import DataFormatError

#: files kept open (a project seldom names more than a couple)
_OPEN_LIMIT = 16


@attrs.frozen
class ConceptLayer:
    """One layer of a concepts file: (N, C) relevance/activation, rows of dataset indices."""

    name: str
    path: Path
    top_k: int
    index: np.ndarray  # (N,) dataset index of each row
    relevance: np.ndarray  # (N, C)
    activation: np.ndarray  # (N, C)
    sorter: np.ndarray  # argsort of ``index``

    @property
    def channels(self) -> int:
        """Channels (concepts) of the layer."""
        return int(self.relevance.shape[1])

    def rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, dataset indices) of those of ``indices`` that the file holds, in given order."""
        indices = np.asarray(indices, dtype=np.int64)
        if not len(self.index):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        place = np.searchsorted(self.index, indices, sorter=self.sorter)
        place = np.minimum(place, len(self.index) - 1)
        rows = self.sorter[place]
        found = self.index[rows] == indices
        return rows[found], indices[found]


class ConceptSources:
    """The layers of a list of concepts files; files are reopened when they change on disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layers: dict[tuple[Path, float, str], ConceptLayer] = {}
        self._files: dict[tuple[Path, float], Any] = {}

    def _file(self, path: Path) -> Any:
        from relscope.core.concepts.concepts_file import ConceptsFile

        mtime = path.stat().st_mtime if path.exists() else -1.0
        key = (path, mtime)
        with self._lock:
            handle = self._files.get(key)
            if handle is None:
                for old in [k for k in self._files if k[0] == path]:
                    self._files.pop(old).close()
                    for layer in [k for k in self._layers if k[:2] == old]:
                        del self._layers[layer]
                if len(self._files) >= _OPEN_LIMIT:
                    self._files.pop(next(iter(self._files))).close()
                handle = ConceptsFile(path)
                self._files[key] = handle
            return handle

    def layers(self, paths: list[Path]) -> dict[str, Path]:
        """Every layer of ``paths`` and the file it is read from (the first that holds it)."""
        found: dict[str, Path] = {}
        for path in paths:
            for name in self._file(path).layers:
                found.setdefault(name, path)
        return found

    def layer(self, paths: list[Path], name: str) -> ConceptLayer:
        """Layer ``name`` of the first file of ``paths`` that holds it (KeyError otherwise)."""
        path = self.layers(paths)[name]
        handle = self._file(path)
        mtime = path.stat().st_mtime
        key = (path, mtime, name)
        with self._lock:
            cached = self._layers.get(key)
            if cached is None:
                index = handle.index.astype(np.int64)
                cached = ConceptLayer(
                    name=name,
                    path=path,
                    top_k=int(handle.file.attrs.get("top_k", 0)),
                    index=index,
                    relevance=handle.relevance(name),
                    activation=handle.activation(name),
                    sorter=np.argsort(index, kind="stable"),
                )
                self._layers[key] = cached
            return cached

    def references(self, layer: ConceptLayer, kind: str, channel: int) -> dict[str, np.ndarray]:
        """``index``, ``value`` (k,) and ``box`` (k, 4) of one channel's reference samples."""
        handle = self._file(layer.path)
        with self._lock:
            group = _reference_group(handle, layer, kind)
            return {key: group[key][channel] for key in ("index", "value", "box")}

    def reference_heatmap(self, layer: ConceptLayer, kind: str, channel: int, rank: int) -> Any:
        """The stored conditional heatmap (H, W) of reference ``rank`` of ``channel``."""
        handle = self._file(layer.path)
        with self._lock:
            return _reference_group(handle, layer, kind)["heatmap"][channel, rank]


def _reference_group(handle: Any, layer: ConceptLayer, kind: str) -> Any:
    group = handle.file[f"layers/{layer.name}"]
    if kind not in group:
        raise DataFormatError(f"{layer.path}: layer {layer.name!r} has no {kind!r} references")
    return group[kind]
