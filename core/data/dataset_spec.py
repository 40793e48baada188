"""The ``dataset`` section of a project file: which input data a project shows, and how to read it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from relscope.core.data.resampling import DOWN_SAMPLING_METHODS, UP_SAMPLING_METHODS
from relscope.core.errors import DataFormatError

DATASET_TYPES = ("hdf5", "image_directory")
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
    """A data set: ``hdf5`` file or ``image_directory`` (with its size, resampling and label regex)."""

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
