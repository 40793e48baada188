"""``--data`` specifications: ``builtin:digits``, an input HDF5 file, an image folder or a project.

Each resolves to a DataSource: the InputSource to read, its label map, the project's ``dataset``
section that shows the same samples, and a fingerprint that changes when the data does.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import attrs

from relscope.core.data.dataset_spec import DatasetSpec
from relscope.core.data.digits import digits_label_map, write_digits
from relscope.core.data.inputs import Hdf5Inputs, ImageDirectoryInputs, InputSource
from relscope.core.data.label_map import LabelMap, default_label_map, read_label_map
from relscope.core.data.project import read_project
from relscope.core.errors import DataFormatError, DataSourceError

BUILTINS = ("digits",)


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
    options = image_options or ImageOptions()
    given = read_label_map(label_map_path) if label_map_path is not None else None
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in BUILTINS:
            raise DataSourceError(
                f"--data {spec}: unknown built-in data set {name!r} (known: {', '.join(BUILTINS)})"
            )
        path = write_digits(Path(data_out) if data_out else Path(workdir) / f"{name}.h5")
        label_map = digits_label_map()
        inputs: InputSource = Hdf5Inputs(path, label_map)
        dataset = DatasetSpec(name, "hdf5", path.absolute())
        return DataSource(
            spec, inputs, label_map, dataset, {"builtin": name, "samples": len(inputs)}
        )
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
    probe = Hdf5Inputs(path, given)
    label_map = _label_map_for(probe.label_column, given)
    dataset = DatasetSpec(path.stem, "hdf5", path.absolute())
    return DataSource(spec, probe, label_map, dataset, _fingerprint(probe))


def _ids(label_map: LabelMap) -> set[str]:
    return {entry.word_net_id for entry in label_map}


def _fingerprint(inputs: InputSource) -> dict[str, Any]:
    if isinstance(inputs, ImageDirectoryInputs):
        return _paths_fingerprint(inputs)
    return {**_file_fingerprint(inputs.path), "samples": len(inputs)}
