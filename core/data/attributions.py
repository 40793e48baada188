"""Attribution files: read one or more as an AttributionSet, write one atomically, batch by batch.

Keys: ``attribution`` (N, C, H, W) / (N, H, W, C) or a group of samples, ``prediction`` (N, K),
``label`` as in the input file, and optionally ``index`` (N,) dataset indices. Without ``index`` row
i is sample i; with several files each claims only the indices it lists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from relscope.core.data.atomic import atomic_path
from relscope.core.data.chunk_blocks import BlockRows, DecodedBlockCache
from relscope.core.data.chunk_codec import COMPRESSION_LEVEL
from relscope.core.data.hdf5 import NodeLookup, member_names, open_hdf5, require, row_count
from relscope.core.data.label_map import LabelMap
from relscope.core.data.labels import Labels, read_labels
from relscope.core.data.pixels import to_channels_first
from relscope.core.data.virtual_attribution import missing_virtual_sources
from relscope.core.errors import DataFormatError

#: attribution chunks hold about this many bytes (whole samples, at least one)
CHUNK_BYTES = 256 * 1024


class AttributionRows:
    """The per-row attributions of one open file, read channels first as float32: an (N, C, H, W)
    or (N, H, W, C) dataset, or a group with one dataset per sample (ViRelAy's split form)."""

    def __init__(self, file: h5py.File, source: str) -> None:
        attribution = require(file, "attribution", source)
        self.rows = row_count(attribution, "attribution", source)
        self.names = member_names(attribution) if isinstance(attribution, h5py.Group) else None
        if isinstance(attribution, h5py.Dataset) and attribution.ndim not in (2, 3, 4):
            raise DataFormatError(
                f"{source}: key 'attribution' must be (N, C, H, W), (N, H, W, C) or (N, T) "
                f"for tokens, got shape {attribution.shape}"
            )
        #: token relevance: one value per position, (N, T)
        self.tokens = isinstance(attribution, h5py.Dataset) and attribution.ndim == 2
        #: when set, rows are read a decoded chunk row at a time (``use_block_cache``)
        self.blocks: BlockRows | None = None
        self._node = NodeLookup("attribution")

    def read(self, file: h5py.File, row: int) -> np.ndarray:
        """Row ``row`` of ``file`` (the file these rows describe) as (C, H, W) float32."""
        node = self._node(file)
        if self.names is not None:
            raw = node[self.names[row]][()]
        elif self.blocks is not None:
            raw = self.blocks.row(node, row)
        else:
            raw = node[row]
        if self.tokens:
            return np.asarray(raw, dtype=np.float32)
        return np.asarray(to_channels_first(np.asarray(raw)), dtype=np.float32)


class _File:
    """One validated attribution file: its row layout, labels and (lazily reopened) handle."""

    def __init__(self, path: Path, label_map: LabelMap | None) -> None:
        self.path = path
        source = str(path)
        with open_hdf5(path, "attribution HDF5 file") as file:
            missing = missing_virtual_sources(file)
            if missing:
                raise DataFormatError(
                    f"{source}: virtual datasets point at missing file(s) {', '.join(missing)} "
                    "(keep a distributed run's .shards folder beside its attribution file)"
                )
            self.attributions = AttributionRows(file, source)
            self.rows = self.attributions.rows
            prediction = require(file, "prediction", source)
            self.prediction_names = None
            if isinstance(prediction, h5py.Group):
                self.prediction_names = member_names(prediction)
            elif prediction.ndim != 2:
                raise DataFormatError(
                    f"{source}: key 'prediction' must be (N, K) model outputs, "
                    f"got shape {prediction.shape}"
                )
            self.labels: Labels = read_labels(require(file, "label", source), source)
            for key, count in (
                ("prediction", row_count(prediction, "prediction", source)),
                ("label", len(self.labels)),
            ):
                if count != self.rows:
                    raise DataFormatError(
                        f"{source}: key {key!r} has {count} rows but key 'attribution' has "
                        f"{self.rows}"
                    )
            self.index: np.ndarray | None = None
            if "index" in file:
                index = np.asarray(require(file, "index", source)[()])
                if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
                    raise DataFormatError(f"{source}: key 'index' must be (N,) integers")
                if index.shape[0] != self.rows:
                    raise DataFormatError(
                        f"{source}: key 'index' has {index.shape[0]} rows but key "
                        f"'attribution' has {self.rows}"
                    )
                if index.size and index.min() < 0:
                    raise DataFormatError(f"{source}: key 'index' holds a negative index")
                unique, counts = np.unique(index, return_counts=True)
                if (counts > 1).any():
                    raise DataFormatError(
                        f"{source}: key 'index' lists sample {int(unique[counts > 1][0])} twice"
                    )
                self.index = index.astype(np.int64)
            if label_map is not None:
                self.labels.check(label_map, source)
        self._handle: h5py.File | None = None
        self._pid: int | None = None

    @property
    def claimed(self) -> np.ndarray:
        """The dataset indices this file holds, in row order."""
        return self.index if self.index is not None else np.arange(self.rows, dtype=np.int64)

    def handle(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_hdf5(self.path, "attribution HDF5 file")
            self._pid = os.getpid()
        return self._handle

    def attribution(self, row: int) -> np.ndarray:
        return self.attributions.read(self.handle(), row)

    def prediction(self, row: int) -> np.ndarray:
        node = self.handle()["prediction"]
        raw = (
            node[self.prediction_names[row]][()] if self.prediction_names is not None else node[row]
        )
        return np.asarray(raw, dtype=np.float32).reshape(-1)

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None
        self._pid = None


class AttributionSet:
    """Attributions over one or more files, addressed by dataset index.

    ``num_samples`` (or ``inputs``, an InputSource) bounds ``index``; ``inputs`` also checks that
    attribution and image sizes agree; ``label_map`` checks the labels.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        label_map: LabelMap | None = None,
        inputs: Any = None,
        num_samples: int | None = None,
    ) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            raise DataFormatError("attributions: no attribution files given")
        self.files = [_File(Path(p), label_map) for p in paths]
        if len(self.files) > 1:
            for file in self.files:
                if file.index is None:
                    raise DataFormatError(
                        f"{file.path}: missing key 'index' (required when attributions are "
                        "split over several files)"
                    )
        if num_samples is None and inputs is not None:
            num_samples = len(inputs)
        self._where: dict[int, tuple[int, int]] = {}
        for number, file in enumerate(self.files):
            claimed = file.claimed
            if num_samples is not None and claimed.size and claimed.max() >= num_samples:
                key = "index" if file.index is not None else "attribution"
                raise DataFormatError(
                    f"{file.path}: key {key!r} points at sample {int(claimed.max())}, outside the "
                    f"data set of {num_samples} samples"
                )
            for row, index in enumerate(claimed.tolist()):
                if index in self._where:
                    other = self.files[self._where[index][0]].path
                    raise DataFormatError(
                        f"{file.path}: key 'index' claims sample {index}, already held by {other}"
                    )
                self._where[index] = (number, row)
        self.indices = np.asarray(sorted(self._where), dtype=np.int64)
        if inputs is not None and len(self.indices):
            self._check_shape(int(self.indices[0]), inputs)

    def _check_shape(self, index: int, inputs: Any) -> None:
        attribution = self.attribution(index)
        if getattr(inputs, "is_tokens", False):
            if attribution.shape != inputs.attribution_shape(index):
                number, _ = self._where[index]
                raise DataFormatError(
                    f"{self.files[number].path}: key 'attribution' sample {index} has shape "
                    f"{attribution.shape}, but the token data has {inputs.length} positions"
                )
            return
        image = inputs.image(index)
        if attribution.shape[1:] != image.shape[:2]:
            number, _ = self._where[index]
            raise DataFormatError(
                f"{self.files[number].path}: key 'attribution' sample {index} is "
                f"{attribution.shape[1]}x{attribution.shape[2]} but the data sample is "
                f"{image.shape[0]}x{image.shape[1]} (height x width)"
            )

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, index: object) -> bool:
        return index in self._where

    def _locate(self, index: int) -> tuple[_File, int]:
        try:
            number, row = self._where[int(index)]
        except KeyError:
            raise KeyError(f"no attribution for sample {index}") from None
        return self.files[number], row

    def attribution(self, index: int) -> np.ndarray:
        """The attribution of dataset sample ``index`` as (C, H, W) float32."""
        file, row = self._locate(index)
        return file.attribution(row)

    def prediction(self, index: int) -> np.ndarray:
        """The model output (K,) stored for dataset sample ``index``."""
        file, row = self._locate(index)
        return file.prediction(row)

    def predictions(self, indices: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored model outputs of several samples (those with an attribution), read with one
        selection per file instead of one read per sample."""
        rows_of: dict[int, list[tuple[int, int]]] = {}
        for index in {int(i) for i in indices if int(i) in self._where}:
            number, row = self._where[index]
            rows_of.setdefault(number, []).append((row, index))
        result: dict[int, np.ndarray] = {}
        for number, pairs in rows_of.items():
            file = self.files[number]
            pairs.sort()
            if file.prediction_names is not None:
                for row, index in pairs:
                    result[index] = file.prediction(row)
                continue
            block = np.asarray(file.handle()["prediction"][[row for row, _ in pairs]])
            for (_, index), values in zip(pairs, block, strict=True):
                result[index] = np.asarray(values, dtype=np.float32).reshape(-1)
        return result

    def labels(self, index: int) -> list[int]:
        """The labels stored with the attribution of sample ``index``."""
        file, row = self._locate(index)
        return file.labels[row]

    def predicted_classes(self, chunk_rows: int = 4096) -> np.ndarray:
        """Argmax of every stored prediction, aligned with ``self.indices`` (read in row chunks).

        The explorer colours a million points by prediction without a million single-row reads.
        """
        result = np.empty(len(self.indices), dtype=np.int64)
        for file in self.files:
            node = file.handle()["prediction"]
            if file.prediction_names is not None:
                best = np.asarray(
                    [int(np.argmax(node[name][()])) for name in file.prediction_names],
                    dtype=np.int64,
                )
            else:
                best = np.empty(file.rows, dtype=np.int64)
                for start in range(0, file.rows, chunk_rows):
                    block = np.asarray(node[start : start + chunk_rows])
                    best[start : start + len(block)] = block.argmax(axis=1)
            result[np.searchsorted(self.indices, file.claimed)] = best
        return result

    def use_block_cache(self, cache: DecodedBlockCache) -> None:
        """Read attributions one decoded chunk row at a time through ``cache`` (a server reading
        sample after sample inflates each chunk once instead of once per sample)."""
        for file in self.files:
            file.attributions.blocks = BlockRows(cache, (str(file.path), "attribution"))

    def start_read_ahead(self) -> int:
        """Queue every file's ``attribution`` dataset for the block cache's background
        read-ahead (a server calls this when it starts); returns how many were queued."""
        queued = 0
        for file in self.files:
            blocks = file.attributions.blocks
            if blocks is not None and file.attributions.names is None:
                queued += blocks.read_ahead(file.handle()["attribution"])
        return queued

    def close(self) -> None:
        """Close every file handle of this process."""
        for file in self.files:
            file.close()

    def __enter__(self) -> AttributionSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunk_rows(sample_shape: Sequence[int], itemsize: int = 4) -> int:
    """Rows per chunk so that one chunk holds about CHUNK_BYTES (at least one sample)."""
    sample_bytes = max(int(np.prod(sample_shape)) * itemsize, 1)
    return max(1, CHUNK_BYTES // sample_bytes)


class AttributionFileWriter:
    """Append batches to a new attribution file; it appears under its name only when closed cleanly.

    Datasets are chunked, compressed and resizable along the first axis. Use as a context manager;
    an exception inside the block leaves no file behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        with_index: bool,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.with_index = with_index
        self.attributes = dict(attributes or {})
        self.rows = 0
        self._atomic: Any = None
        self._file: h5py.File | None = None

    def __enter__(self) -> AttributionFileWriter:
        self._atomic = atomic_path(self.path)
        temp = self._atomic.__enter__()
        self._file = h5py.File(temp, "w")
        for key, value in self.attributes.items():
            self._file.attrs[key] = value
        return self

    def _create(self, key: str, first: np.ndarray, rows_per_chunk: int, level: int) -> None:
        assert self._file is not None
        filters: dict[str, Any] = {}
        if level:
            filters = {"compression": "gzip", "compression_opts": level, "shuffle": True}
        self._file.create_dataset(
            key,
            shape=(0, *first.shape[1:]),
            maxshape=(None, *first.shape[1:]),
            dtype=first.dtype,
            chunks=(rows_per_chunk, *first.shape[1:]),
            **filters,
        )

    def _columns(
        self, count: int, prediction: Any, label: Any, index: Any
    ) -> dict[str, np.ndarray]:
        columns = {
            "prediction": np.asarray(prediction, dtype=np.float32),
            "label": np.asarray(label),
        }
        if self.with_index:
            if index is None:
                raise ValueError("this writer stores 'index'; pass the batch's dataset indices")
            columns["index"] = np.asarray(index, dtype=np.uint64)
        for key, values in columns.items():
            if values.shape[0] != count:
                raise ValueError(f"{key} has {values.shape[0]} rows, attribution has {count}")
        return columns

    def _append_column(self, key: str, values: np.ndarray, rows_per_chunk: int) -> None:
        assert self._file is not None
        if key not in self._file:
            self._create(key, values, rows_per_chunk, COMPRESSION_LEVEL)
        dataset = self._file[key]
        dataset.resize(self.rows + values.shape[0], axis=0)
        dataset[self.rows : self.rows + values.shape[0]] = values

    def append(
        self,
        attribution: np.ndarray,
        prediction: np.ndarray,
        label: np.ndarray,
        index: np.ndarray | None = None,
    ) -> None:
        """Append rows: attribution (B, C, H, W), prediction (B, K), label (B,)/(B, K), index (B,)."""
        assert self._file is not None, "use AttributionFileWriter as a context manager"
        attribution = np.asarray(attribution, dtype=np.float32)
        count = attribution.shape[0]
        columns = self._columns(count, prediction, label, index)
        self._append_column("attribution", attribution, chunk_rows(attribution.shape[1:]))
        for key, values in columns.items():
            self._append_column(key, values, chunk_rows(values.shape[1:], values.dtype.itemsize))
        self.rows += count

    def append_encoded(
        self,
        chunks: Sequence[bytes],
        shape: Sequence[int],
        rows_per_chunk: int,
        level: int,
        prediction: np.ndarray,
        label: np.ndarray,
        index: np.ndarray | None = None,
        extra: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append float32 attribution rows of ``shape`` given as chunks already encoded by
        :func:`~relscope.core.data.chunk_codec.encode_rows` (copied into the file as they are);
        ``extra`` columns (e.g. a token run's ``input_ids``) are appended beside them."""
        assert self._file is not None, "use AttributionFileWriter as a context manager"
        count = int(shape[0])
        columns = self._columns(count, prediction, label, index)
        if "attribution" not in self._file:
            self._create(
                "attribution", np.empty((0, *shape[1:]), np.float32), rows_per_chunk, level
            )
        dataset = self._file["attribution"]
        if dataset.chunks[0] != rows_per_chunk or dataset.shape[1:] != tuple(shape[1:]):
            raise ValueError("encoded chunks do not fit the attribution dataset's layout")
        if self.rows % rows_per_chunk:
            raise ValueError("encoded chunks must start on a chunk boundary")
        if len(chunks) != -(-count // rows_per_chunk):
            raise ValueError(f"{len(chunks)} chunks cannot hold {count} rows")
        dataset.resize(self.rows + count, axis=0)
        zeros = (0,) * (len(shape) - 1)
        for number, chunk in enumerate(chunks):
            dataset.id.write_direct_chunk((self.rows + number * rows_per_chunk, *zeros), chunk)
        for key, values in {**columns, **(extra or {})}.items():
            self._append_column(key, values, chunk_rows(values.shape[1:], values.dtype.itemsize))
        self.rows += count

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._file is not None and self._atomic is not None
        self._file.close()
        self._file = None
        self._atomic.__exit__(exc_type, exc, tb)


def write_attributions(
    path: str | os.PathLike[str],
    attribution: np.ndarray,
    prediction: np.ndarray,
    label: np.ndarray,
    index: np.ndarray | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole attribution file at once (atomically)."""
    with AttributionFileWriter(path, index is not None, attributes) as writer:
        writer.append(attribution, prediction, label, index)
