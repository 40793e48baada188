"""Where the samples come from: the ``dataset`` section of a project (which input data it shows and
how to read it), and ``--data`` values (``builtin:NAME``, an input HDF5 file, an image folder or a
project), each resolved to a DataSource: the InputSource to read, its label map, the project's
``dataset`` section that shows the same samples, and a fingerprint that changes when the data does.

Built-in data sets come from plugins (``register_datasets``), e.g. the demo's ``digits``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from relscope.core.data.label_map import LabelMap, default_label_map, read_label_map
from relscope.core.data.resampling import DOWN_SAMPLING_METHODS, UP_SAMPLING_METHODS
from relscope.core.errors import DataFormatError, DataSourceError

if TYPE_CHECKING:
    from relscope.core.data.inputs import ImageDirectoryInputs, InputSource

DATASET_TYPES = ("hdf5", "image_directory", "tokens")
IMAGE_DIRECTORY_KEYS = (
    "input_width",
    "input_height",
    "up_sampling_method",
    "down_sampling_method",
    "label_index_regex",
    "label_word_net_id_regex",
)


@attrs.define
class DatasetSpec:
    """A data set: ``hdf5`` file, ``image_directory`` (with its size, resampling and label regex)
    or ``tokens`` (an HDF5 file of token ids, see :mod:`relscope.core.data.tokens`)."""

    name: str
    type: str
    path: Path
    input_width: int | None = None
    input_height: int | None = None
    up_sampling_method: str = "none"
    down_sampling_method: str = "none"
    label_index_regex: str | None = None
    label_word_net_id_regex: str | None = None

    def validate(self, source: str = "dataset") -> None:
        """Check the combination of fields; errors name ``source`` and the offending key."""
        if self.type not in DATASET_TYPES:
            raise DataFormatError(
                f"{source}: key 'dataset.type' must be one of {', '.join(DATASET_TYPES)}, "
                f"got {self.type!r}"
            )
        if self.type != "image_directory":
            return
        for key in ("input_width", "input_height"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise DataFormatError(f"{source}: key 'dataset.{key}' must be a positive integer")
        if self.up_sampling_method not in UP_SAMPLING_METHODS:
            raise DataFormatError(
                f"{source}: key 'dataset.up_sampling_method' must be one of "
                f"{', '.join(UP_SAMPLING_METHODS)}, got {self.up_sampling_method!r}"
            )
        if self.down_sampling_method not in DOWN_SAMPLING_METHODS:
            raise DataFormatError(
                f"{source}: key 'dataset.down_sampling_method' must be one of "
                f"{', '.join(DOWN_SAMPLING_METHODS)}, got {self.down_sampling_method!r}"
            )
        regexes = [self.label_index_regex, self.label_word_net_id_regex]
        if sum(r is not None for r in regexes) != 1:
            raise DataFormatError(
                f"{source}: exactly one of 'dataset.label_index_regex' and "
                "'dataset.label_word_net_id_regex' must be set (the other null)"
            )
        for key in ("label_index_regex", "label_word_net_id_regex"):
            pattern = getattr(self, key)
            if pattern is None:
                continue
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise DataFormatError(
                    f"{source}: key 'dataset.{key}' is not a regex ({exc})"
                ) from None
            if compiled.groups < 1:
                raise DataFormatError(f"{source}: key 'dataset.{key}' needs a group for the label")

    @classmethod
    def from_mapping(cls, data: Any, base_dir: Path, source: str) -> DatasetSpec:
        """Parse the YAML ``dataset`` mapping; ``path`` is resolved against ``base_dir``."""
        if not isinstance(data, Mapping):
            raise DataFormatError(f"{source}: key 'dataset' must be a mapping")
        for key in ("name", "type", "path"):
            if key not in data:
                raise DataFormatError(f"{source}: missing key 'dataset.{key}'")
            if not isinstance(data[key], str):
                raise DataFormatError(f"{source}: key 'dataset.{key}' must be a string")
        if data["type"] == "image_directory":
            for key in IMAGE_DIRECTORY_KEYS:
                if key not in data:
                    raise DataFormatError(
                        f"{source}: missing key 'dataset.{key}' (required for image_directory)"
                    )
        spec = cls(
            name=data["name"],
            type=data["type"],
            path=base_dir / data["path"],
            input_width=data.get("input_width"),
            input_height=data.get("input_height"),
            up_sampling_method=data.get("up_sampling_method") or "none",
            down_sampling_method=data.get("down_sampling_method") or "none",
            label_index_regex=data.get("label_index_regex"),
            label_word_net_id_regex=data.get("label_word_net_id_regex"),
        )
        spec.validate(source)
        return spec

    def to_mapping(self, base_dir: Path) -> dict[str, Any]:
        """The YAML form, with ``path`` relative to ``base_dir`` (the project file's folder)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "path": relative_path(self.path, base_dir),
        }
        if self.type == "image_directory":
            for key in IMAGE_DIRECTORY_KEYS:
                out[key] = getattr(self, key)
        return out


def relative_path(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` in POSIX form (``..`` allowed), as project files store it."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base_dir))).as_posix()


@attrs.define
class DataSource:
    """An opened data set with everything needed to attribute it and to describe it in a project."""

    spec: str
    inputs: InputSource
    label_map: LabelMap
    dataset: DatasetSpec
    fingerprint: dict[str, Any]


@attrs.define
class ImageOptions:
    """How to read an image folder: input size, resampling and (for image_directory) a label regex."""

    width: int | None = None
    height: int | None = None
    up_sampling_method: str = "resize"
    down_sampling_method: str = "resize"
    label_index_regex: str | None = None
    label_word_net_id_regex: str | None = None


def _file_fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.absolute()), "bytes": stat.st_size}


def _paths_fingerprint(inputs: ImageDirectoryInputs) -> dict[str, Any]:
    digest = hashlib.sha256()
    for sample in inputs.sample_paths:
        digest.update(str(sample).encode())
        digest.update(str(sample.stat().st_size).encode())
    return {"path": str(inputs.path.absolute()), "samples": digest.hexdigest()}


def _label_map_for(labels: Any, given: LabelMap | None) -> LabelMap:
    if given is not None:
        return given
    if labels.multi_label:
        return default_label_map(int(labels.width or 0))
    highest = max((max(row) for row in labels.rows if row), default=-1)
    return default_label_map(highest + 1)


def open_data_source(
    spec: str,
    workdir: str | os.PathLike[str] = ".",
    label_map_path: str | os.PathLike[str] | None = None,
    image_options: ImageOptions | None = None,
    data_out: str | os.PathLike[str] | None = None,
) -> DataSource:
    """Resolve a ``--data`` value.

    ``builtin:NAME`` writes its input file to ``data_out`` (default ``<workdir>/NAME.h5``); a
    ``.yaml``/``.yml`` file is a project whose dataset and label map are used; a folder is an image
    folder (class sub-folders, or the image_directory form when a label regex is given); any other
    path is an input HDF5 file. Without ``label_map_path`` a label map is derived.
    """
    from relscope.core.data.inputs import Hdf5Inputs, ImageDirectoryInputs
    from relscope.core.data.project import read_project

    options = image_options or ImageOptions()
    given = read_label_map(label_map_path) if label_map_path is not None else None
    if spec.startswith("builtin:"):
        return _builtin_source(spec, Path(data_out) if data_out else None, Path(workdir))
    path = Path(spec)
    if not path.exists():
        raise DataFormatError(
            f"{spec}: data not found (expected builtin:digits, an HDF5 file, ...)"
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        project = read_project(path)
        label_map = given or project.read_label_map()
        inputs = project.open_inputs(label_map)
        return DataSource(spec, inputs, label_map, project.dataset, _fingerprint(inputs))
    if path.is_dir():
        if options.label_index_regex is None and options.label_word_net_id_regex is None:
            inputs = ImageDirectoryInputs.from_class_folders(
                path,
                options.width,
                options.height,
                options.up_sampling_method,
                options.down_sampling_method,
            )
            assert isinstance(inputs, ImageDirectoryInputs) and inputs.label_map is not None
            label_map = inputs.label_map
            if given is not None:
                missing = [e.word_net_id for e in label_map if e.word_net_id not in _ids(given)]
                if missing:
                    raise DataFormatError(
                        f"{spec}: class folder {missing[0]!r} is not a word_net_id of the label "
                        f"map {given.source}"
                    )
                inputs = ImageDirectoryInputs(
                    path,
                    inputs.spec.input_width or 0,
                    inputs.spec.input_height or 0,
                    options.up_sampling_method,
                    options.down_sampling_method,
                    label_word_net_id_regex=inputs.spec.label_word_net_id_regex,
                    label_map=given,
                )
                label_map = given
        else:
            if options.width is None or options.height is None:
                raise DataSourceError(
                    f"{spec}: an image_directory with a label regex needs --input-size WIDTHxHEIGHT"
                )
            if options.label_word_net_id_regex is not None and given is None:
                raise DataSourceError(f"{spec}: --label-word-net-id-regex needs --label-map")
            inputs = ImageDirectoryInputs(
                path,
                options.width,
                options.height,
                options.up_sampling_method,
                options.down_sampling_method,
                options.label_index_regex,
                options.label_word_net_id_regex,
                given,
            )
            label_map = _label_map_for(inputs.label_column, given)
        assert isinstance(inputs, ImageDirectoryInputs)
        dataset = attrs.evolve(inputs.spec, name=path.absolute().name, path=path.absolute())
        return DataSource(spec, inputs, label_map, dataset, _fingerprint(inputs))
    from relscope.core.data.tokens import TokenInputs, is_token_file

    tokens = is_token_file(path)
    probe = TokenInputs(path, given) if tokens else Hdf5Inputs(path, given)
    label_map = _label_map_for(probe.label_column, given)
    dataset = DatasetSpec(path.stem, "tokens" if tokens else "hdf5", path.absolute())
    return DataSource(spec, probe, label_map, dataset, _fingerprint(probe))


def _builtin_source(spec: str, data_out: Path | None, workdir: Path) -> DataSource:
    """``builtin:NAME``: the registered data set writes its input file (reused when present)."""
    from relscope.core.data.inputs import Hdf5Inputs
    from relscope.core.registry import get_registry

    name = spec.split(":", 1)[1]
    builtins = get_registry("datasets")
    if name not in builtins:
        known = ", ".join(builtins) or "none registered"
        raise DataSourceError(f"--data {spec}: unknown built-in data set {name!r} (known: {known})")
    path, label_map = builtins[name](data_out or workdir / f"{name}.h5")
    inputs = Hdf5Inputs(path, label_map)
    dataset = DatasetSpec(name, "hdf5", Path(path).absolute())
    return DataSource(spec, inputs, label_map, dataset, {"builtin": name, "samples": len(inputs)})


def _ids(label_map: LabelMap) -> set[str]:
    return {entry.word_net_id for entry in label_map}


def _fingerprint(inputs: InputSource) -> dict[str, Any]:
    from relscope.core.data.inputs import ImageDirectoryInputs

    if isinstance(inputs, ImageDirectoryInputs):
        return _paths_fingerprint(inputs)
    return {**_file_fingerprint(inputs.path), "samples": len(inputs)}
