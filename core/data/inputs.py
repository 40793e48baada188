"""Input data sets: an HDF5 file (``data``/``label``) or an image directory, one sample at a time.

``open_inputs`` validates on open (missing key, row counts, labels in the label map) and returns an
InputSource whose ``image(i)`` is an (H, W, C) float32 array in [0, 1]. HDF5 handles are opened
lazily per process, so a source can be handed to DataLoader worker processes.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image, UnidentifiedImageError

from relscope.core.data.chunk_blocks import BlockRows, DecodedBlockCache
from relscope.core.data.hdf5 import (
    NodeLookup,
    PerProcessHdf5,
    member_names,
    open_hdf5,
    require,
    row_count,
)
from relscope.core.data.label_map import LabelEntry, LabelMap
from relscope.core.data.labels import Labels, read_labels
from relscope.core.data.pixels import (
    guess_value_range,
    is_channels_first,
    to_channels_last,
    to_unit_range,
)
from relscope.core.data.resampling import resample
from relscope.core.data.sources import DatasetSpec
from relscope.core.errors import DataFormatError

#: how many leading samples the value-range guess looks at
RANGE_GUESS_SAMPLES = 16
#: regex matching the class folder of ``<root>/<class>/<file>`` (the ImageFolder layout)
CLASS_FOLDER_REGEX = r"^.*/([^/]+)/[^/]+$"


class InputSource:
    """A data set of images with labels; subclasses say where the pixels come from."""

    path: Path
    label_map: LabelMap | None
    _labels: Labels

    def __len__(self) -> int:
        return len(self._labels)

    def _check_index(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: sample {index} is out of range (0..{len(self) - 1})")
        return index

    def image(self, index: int) -> np.ndarray:
        """Sample ``index`` as an (H, W, C) float32 array in [0, 1]."""
        raise NotImplementedError

    def sample(self, index: int) -> np.ndarray:
        """Sample ``index`` as a run batches it: the (C, H, W) image (token sources: ids and mask)."""
        return np.ascontiguousarray(self.image(index).transpose(2, 0, 1))

    def attribution_shape(self, index: int) -> tuple[int, ...]:
        """The shape of sample ``index``'s attribution: (C, H, W) for images."""
        height, width, channels = self.image(index).shape
        return (channels, height, width)

    def labels(self, index: int) -> list[int]:
        """The class indices of sample ``index`` (one, or several for n-hot labels)."""
        return self._labels[self._check_index(index)]

    def shape(self, index: int) -> tuple[int, int, int]:
        """The (H, W, C) shape of ``image(index)``, without decoding pixels where the source can."""
        height, width, channels = self.image(index).shape
        return int(height), int(width), int(channels)

    @property
    def label_column(self) -> Labels:
        """All labels with their stored form (single index or n-hot of a width)."""
        return self._labels

    @property
    def multi_label(self) -> bool:
        """True when labels are n-hot vectors."""
        return self._labels.multi_label

    def close(self) -> None:
        """Release open files (reopened on next use)."""

    def __enter__(self) -> InputSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hdf5Inputs(PerProcessHdf5, InputSource):
    """An input HDF5 file: ``data`` as (N,C,H,W)/(N,H,W,C) or a group of samples, and ``label``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        label_map: LabelMap | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> None:
        self.path = Path(path)
        self.label_map = label_map
        self._blocks: BlockRows | None = None
        self._data = NodeLookup("data")
        source = str(path)
        with open_hdf5(path, "input HDF5 file") as file:
            data = require(file, "data", source)
            count = row_count(data, "data", source)
            self._labels = read_labels(require(file, "label", source), source)
            if len(self._labels) != count:
                raise DataFormatError(
                    f"{source}: key 'label' has {len(self._labels)} rows but key 'data' has {count}"
                )
            self._names: list[str] | None = None
            if isinstance(data, h5py.Group):
                self._names = member_names(data)
            elif data.ndim not in (3, 4):
                raise DataFormatError(
                    f"{source}: key 'data' must be (N, C, H, W), (N, H, W, C) or (N, H, W), "
                    f"got shape {data.shape}"
                )
            if label_map is not None:
                self._labels.check(label_map, source)
            if value_range is None and "value_range" in data.attrs:
                value_range = tuple(float(v) for v in data.attrs["value_range"])  # type: ignore[assignment]
            if value_range is None:
                first = range(min(count, RANGE_GUESS_SAMPLES))
                value_range = guess_value_range(self._raw(file, i) for i in first)
        self.value_range: tuple[float, float] = value_range

    def _raw(self, file: h5py.File, index: int) -> np.ndarray:
        data = self._data(file)
        if self._names is not None:
            return np.asarray(data[self._names[index]][()])
        if self._blocks is not None:
            return self._blocks.row(data, index)
        return np.asarray(data[index])

    def use_block_cache(self, cache: DecodedBlockCache) -> None:
        """Read samples one decoded chunk row at a time through ``cache`` (for a server reading
        sample after sample: each chunk is inflated once, not once per sample)."""
        self._blocks = BlockRows(cache, (str(self.path), "data"))

    def start_read_ahead(self) -> bool:
        """Queue the ``data`` dataset for the block cache's background read-ahead (a server
        calls this when it starts); True when queued (a cache with read-ahead, small enough)."""
        if self._blocks is None or self._names is not None:
            return False
        return self._blocks.read_ahead(self._handle()["data"])

    def raw(self, index: int) -> np.ndarray:
        """Sample ``index`` exactly as stored."""
        return self._raw(self._handle(), self._check_index(index))

    def shape(self, index: int) -> tuple[int, int, int]:
        """The (H, W, C) shape of sample ``index``, read from the file's metadata."""
        index = self._check_index(index)
        data = self._handle()["data"]
        stored = data[self._names[index]].shape if self._names is not None else data.shape[1:]
        if len(stored) == 2:
            return int(stored[0]), int(stored[1]), 1
        if len(stored) != 3:
            return super().shape(index)  # image() reports the malformed sample
        if is_channels_first(tuple(stored)):
            return int(stored[1]), int(stored[2]), int(stored[0])
        return int(stored[0]), int(stored[1]), int(stored[2])

    def image(self, index: int) -> np.ndarray:
        """Sample ``index`` as (H, W, C) float32 in [0, 1] (value range mapped, channels last)."""
        sample = self.raw(index)
        if sample.ndim not in (2, 3):
            raise DataFormatError(
                f"{self.path}: key 'data' sample {index} has shape {sample.shape}"
            )
        return to_unit_range(to_channels_last(sample), self.value_range)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_blocks"] = None  # a cache stays with its process
        return state


def list_sample_paths(path: Path) -> list[Path]:
    """``<path>_paths.txt`` entries (relative to ``path``'s folder) or every file under ``path``."""
    listing = Path(f"{path}_paths.txt")
    if listing.is_file():
        lines = listing.read_text(encoding="utf-8").splitlines()
        names = [os.path.join(os.path.dirname(path), line) for line in lines if line.strip()]
    else:
        pattern = os.path.join(glob.escape(str(path)), "**", "*.*")
        names = [name for name in glob.glob(pattern, recursive=True) if os.path.isfile(name)]
    return [Path(name) for name in sorted(names)]


class ImageDirectoryInputs(InputSource):
    """Image files under a folder (or listed in ``<path>_paths.txt``), labelled by a path regex."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        input_width: int,
        input_height: int,
        up_sampling_method: str = "none",
        down_sampling_method: str = "none",
        label_index_regex: str | None = None,
        label_word_net_id_regex: str | None = None,
        label_map: LabelMap | None = None,
    ) -> None:
        self.path = Path(path)
        self.label_map = label_map
        spec = DatasetSpec(
            self.path.name,
            "image_directory",
            self.path,
            input_width,
            input_height,
            up_sampling_method,
            down_sampling_method,
            label_index_regex,
            label_word_net_id_regex,
        )
        spec.validate(str(path))
        self.spec = spec
        source = str(path)
        if not self.path.exists():
            raise DataFormatError(f"{source}: image directory not found")
        self.sample_paths = list_sample_paths(self.path)
        if not self.sample_paths:
            raise DataFormatError(f"{source}: no image files found")
        if label_word_net_id_regex is not None and label_map is None:
            raise DataFormatError(f"{source}: 'label_word_net_id_regex' needs a label map")
        key = "label_index_regex" if label_index_regex is not None else "label_word_net_id_regex"
        pattern = re.compile(label_index_regex or label_word_net_id_regex or "")
        rows = []
        for sample in self.sample_paths:
            match = pattern.match(os.path.abspath(sample))
            if match is None or match.group(1) is None:
                raise DataFormatError(f"{source}: key {key!r} does not match sample path {sample}")
            if label_index_regex is not None:
                try:
                    label = int(match.group(1))
                except ValueError:
                    raise DataFormatError(
                        f"{source}: key {key!r} captured {match.group(1)!r} from {sample}, "
                        "not an integer"
                    ) from None
                if label_map is not None and label not in label_map:
                    raise DataFormatError(
                        f"{source}: sample {sample} has label {label}, which is not in the "
                        f"label map {label_map.source}"
                    )
            else:
                assert label_map is not None
                try:
                    label = label_map.by_word_net_id(match.group(1)).index
                except DataFormatError:
                    raise DataFormatError(
                        f"{source}: sample {sample} has word_net_id {match.group(1)!r}, which is "
                        f"not in the label map {label_map.source}"
                    ) from None
            rows.append((label,))
        self._labels = Labels(tuple(rows))

    @classmethod
    def from_class_folders(
        cls,
        path: str | os.PathLike[str],
        input_width: int | None = None,
        input_height: int | None = None,
        up_sampling_method: str = "resize",
        down_sampling_method: str = "resize",
    ) -> ImageDirectoryInputs:
        """ImageFolder layout ``<path>/<class>/<image>``: classes sorted by folder name.

        The label map uses the folder name as ``word_net_id``; the size defaults to the first image's.
        """
        root = Path(path)
        if not root.is_dir():
            raise DataFormatError(f"{root}: image folder not found")
        classes = sorted(
            entry.name
            for entry in root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".")
        )
        if not classes:
            raise DataFormatError(
                f"{root}: no class sub-folders (expected <folder>/<class>/<image>)"
            )
        label_map = LabelMap(
            (LabelEntry(index, name, name) for index, name in enumerate(classes)),
            source=f"classes of {root}",
        )
        if input_width is None or input_height is None:
            paths = list_sample_paths(root)
            if not paths:
                raise DataFormatError(f"{root}: no image files found")
            width, height = _open_image(paths[0]).size
            input_width = input_width or width
            input_height = input_height or height
        return cls(
            root,
            input_width,
            input_height,
            up_sampling_method,
            down_sampling_method,
            label_word_net_id_regex=CLASS_FOLDER_REGEX,
            label_map=label_map,
        )

    def shape(self, index: int) -> tuple[int, int, int]:
        """(input height, input width, 3): every image is resampled to the input size, as RGB."""
        self._check_index(index)
        assert self.spec.input_width is not None and self.spec.input_height is not None
        return self.spec.input_height, self.spec.input_width, 3

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as RGB (H, W, 3) float32 in [0, 1], resampled to the input size."""
        pixels = np.asarray(_open_image(self.sample_paths[self._check_index(index)]))
        spec = self.spec
        assert spec.input_width is not None and spec.input_height is not None
        pixels = resample(
            pixels,
            spec.input_width,
            spec.input_height,
            spec.up_sampling_method,
            spec.down_sampling_method,
        )
        return pixels.astype(np.float32) / np.float32(255.0)


def _open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable image ({exc})") from None


def open_inputs(
    dataset_spec: DatasetSpec | Mapping[str, Any] | str | os.PathLike[str],
    label_map: LabelMap | None = None,
) -> InputSource:
    """Open a data set from a project's DatasetSpec (or its YAML mapping), an HDF5 path or a folder.

    A folder without a spec is read in the ImageFolder layout (class sub-folders).
    """
    if isinstance(dataset_spec, Mapping):
        dataset_spec = DatasetSpec.from_mapping(dataset_spec, Path.cwd(), "dataset")
    if isinstance(dataset_spec, DatasetSpec):
        dataset_spec.validate(str(dataset_spec.path))
        if dataset_spec.type == "hdf5":
            return Hdf5Inputs(dataset_spec.path, label_map)
        if dataset_spec.type == "tokens":
            from relscope.core.data.tokens import TokenInputs

            return TokenInputs(dataset_spec.path, label_map)
        assert dataset_spec.input_width is not None and dataset_spec.input_height is not None
        return ImageDirectoryInputs(
            dataset_spec.path,
            dataset_spec.input_width,
            dataset_spec.input_height,
            dataset_spec.up_sampling_method,
            dataset_spec.down_sampling_method,
            dataset_spec.label_index_regex,
            dataset_spec.label_word_net_id_regex,
            label_map,
        )
    path = Path(dataset_spec)
    if path.is_dir():
        return ImageDirectoryInputs.from_class_folders(path)
    return Hdf5Inputs(path, label_map)
