"""``concepts.h5``: per-sample channel relevances and per-channel reference samples of layers.

Layout (documented in docs/formats.md, "Concepts"): top-level ``index``, ``label``,
``prediction`` (N rows, dataset order of the run); one group per layer (``/layers/<name>``) with
``relevance`` and ``activation`` (N, C), and ``relmax`` / ``actmax`` groups holding ``index``,
``value`` (C, k), ``heatmap`` (C, k, H, W) and ``box`` (C, k, 4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from relscope.core.errors import DataFormatError

FORMAT = "relscope-concepts/1"
KINDS = ("relmax", "actmax")


def _appendable(group: Any, name: str, width: tuple[int, ...], dtype: Any) -> Any:
    rows = max(1, min(1024, (1 << 20) // max(1, int(np.prod(width)) * 4)))
    return group.create_dataset(
        name,
        shape=(0, *width),
        maxshape=(None, *width),
        dtype=dtype,
        chunks=(rows, *width),
        compression="gzip",
        compression_opts=4,
    )


def _append(dataset: Any, rows: np.ndarray) -> None:
    start = dataset.shape[0]
    dataset.resize(start + len(rows), axis=0)
    dataset[start:] = rows


class ConceptsFileWriter:
    """Writes one concepts file into an open temporary path, batch by batch.

    ``layers`` maps layer names to channel counts; rows arrive with :meth:`append`, the
    reference samples of each layer with :meth:`write_references` at the end.
    """

    def __init__(
        self, path: Path, layers: Mapping[str, int], label_width: tuple[int, ...], attributes: dict
    ) -> None:
        import h5py

        self.file = h5py.File(path, "w")
        self.file.attrs["format"] = FORMAT
        self.file.attrs["layers"] = json.dumps(list(layers))
        for key, value in attributes.items():
            self.file.attrs[key] = value
        self.index = _appendable(self.file, "index", (), np.int64)
        self.label = _appendable(
            self.file, "label", label_width, np.int64 if not label_width else bool
        )
        self.prediction: Any = None
        self.layers = {}
        for name, channels in layers.items():
            group = self.file.create_group(f"layers/{name}")
            group.attrs["channels"] = channels
            self.layers[name] = (
                _appendable(group, "relevance", (channels,), np.float32),
                _appendable(group, "activation", (channels,), np.float32),
            )

    def append(
        self,
        index: np.ndarray,
        label: np.ndarray,
        prediction: np.ndarray,
        relevance: Mapping[str, np.ndarray],
        activation: Mapping[str, np.ndarray],
    ) -> None:
        """Add one batch: dataset indices, labels, model outputs, per layer (B, C) arrays."""
        if self.prediction is None:
            self.prediction = _appendable(self.file, "prediction", prediction.shape[1:], np.float32)
        _append(self.index, index)
        _append(self.label, label)
        _append(self.prediction, prediction)
        for name, (rel, act) in self.layers.items():
            _append(rel, relevance[name])
            _append(act, activation[name])

    def write_references(
        self,
        layer: str,
        kind: str,
        value: np.ndarray,
        index: np.ndarray,
        heatmap: np.ndarray,
        box: np.ndarray,
    ) -> None:
        """The top-k reference samples of every channel of ``layer`` for ``kind`` (relmax/actmax)."""
        group = self.file.create_group(f"layers/{layer}/{kind}")
        group.create_dataset("value", data=value.astype(np.float32))
        group.create_dataset("index", data=index.astype(np.int64))
        group.create_dataset("heatmap", data=heatmap.astype(np.float32), compression="gzip")
        group.create_dataset("box", data=box.astype(np.int32))

    def close(self) -> None:
        """Flush and close the file."""
        self.file.close()


@attrs.frozen
class References:
    """Reference samples of one layer and kind: (C, k) ``index``/``value``, heatmaps, boxes."""

    index: np.ndarray
    value: np.ndarray
    heatmap: np.ndarray
    box: np.ndarray


class ConceptsFile:
    """Reads a concepts file; a missing key or layer is a DataFormatError naming file and key."""

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataFormatError(f"{self.path}: cannot open concepts file ({exc})") from None
        if self.file.attrs.get("format") != FORMAT:
            self.file.close()
            raise DataFormatError(
                f"{self.path}: not a concepts file (attribute format != {FORMAT})"
            )
        self.layers: list[str] = json.loads(self.file.attrs["layers"])

    def _group(self, layer: str) -> Any:
        if layer not in self.layers:
            raise DataFormatError(
                f"{self.path}: no layer {layer!r}; it holds: {', '.join(self.layers)}"
            )
        return self.file[f"layers/{layer}"]

    @property
    def index(self) -> np.ndarray:
        """(N,) dataset index of each row."""
        return self.file["index"][()]

    @property
    def label(self) -> np.ndarray:
        """(N,) labels, or (N, K) n-hot."""
        return self.file["label"][()]

    def relevance(self, layer: str) -> np.ndarray:
        """(N, C) channel relevance of ``layer``."""
        return self._group(layer)["relevance"][()]

    def activation(self, layer: str) -> np.ndarray:
        """(N, C) maximal activation per channel of ``layer``."""
        return self._group(layer)["activation"][()]

    def references(self, layer: str, kind: str = "relmax") -> References:
        """The reference samples of ``layer`` by ``kind`` (``relmax`` or ``actmax``)."""
        group = self._group(layer)
        if kind not in group:
            raise DataFormatError(f"{self.path}: layer {layer!r} has no {kind!r} references")
        part = group[kind]
        return References(*(part[key][()] for key in ("index", "value", "heatmap", "box")))

    def close(self) -> None:
        """Close the file."""
        self.file.close()

    def __enter__(self) -> ConceptsFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
