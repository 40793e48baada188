"""``builtin:digits``: scikit-learn's bundled 8x8 digits, upscaled to 32x32, as an input HDF5 file.

The pixels (0..16) are scaled to uint8 0..255 and each pixel becomes a 4x4 block, so the file is
exact, small (1797 x 1 x 32 x 32 bytes) and shows in the explorer like any other input file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.data.atomic import atomic_path
from relscope.core.data.label_map import LabelMap, default_label_map

#: stored in the file so an existing copy can be recognised and reused
DIGITS_SOURCE = "relscope builtin:digits v1 (sklearn load_digits, 4x nearest upscale, uint8)"
SCALE = 4


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits as (1797, 1, 32, 32) uint8 images and (1797,) int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    images = images.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    return images[:, None], bunch.target.astype(np.int64)


def digits_label_map() -> LabelMap:
    """Classes 0..9 named by their digit; ids ``00000000``..``00000009``."""
    return default_label_map(10, source="builtin:digits")


def is_digits_file(path: Path) -> bool:
    """True when ``path`` is a complete digits file written by :func:`write_digits`."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return file.attrs.get("relscope_source") == DIGITS_SOURCE and file["data"].shape == (
                1797,
                1,
                32,
                32,
            )
    except (OSError, KeyError):
        return False


def write_digits(path: str | os.PathLike[str]) -> Path:
    """Write the digits input file to ``path`` atomically, unless an identical one is there."""
    import h5py

    target = Path(path)
    if is_digits_file(target):
        return target
    images, labels = digits_arrays()
    with atomic_path(target) as temp, h5py.File(temp, "w") as file:
        file.attrs["relscope_source"] = DIGITS_SOURCE
        file.create_dataset("data", data=images, chunks=(64, 1, 32, 32), compression="gzip")
        file.create_dataset("label", data=labels)
    return target


def builtin_digits(path: str | os.PathLike[str]) -> tuple[Path, LabelMap]:
    """``--data builtin:digits``: the input file written to ``path`` and its label map."""
    return write_digits(path), digits_label_map()


@hookimpl
def register_datasets(register: Any) -> None:
    """Register ``builtin:digits``."""
    register(
        "digits",
        builtin_digits,
        description="scikit-learn's 1,797 digits, 8x8 upscaled to 32x32, 10 classes",
    )
