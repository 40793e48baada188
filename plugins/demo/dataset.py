"""The demo's data set: bundled digits at 32×32 with a watermark shortcut on one class, as input HDF5."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import h5py
import numpy as np

from relscope.core.data.atomic import atomic_path
from relscope.plugins.demo.digits import digits_arrays
from relscope.plugins.demo.watermark import choose_watermarked, stamp_watermark

WATERMARK_CLASS = 7
RATE_IN_CLASS = 0.8
RATE_ELSEWHERE = 0.02
HELD_OUT_FRACTION = 0.25


@attrs.frozen
class DemoData:
    """Images (N, 1, 32, 32) in [0, 1] as stored (watermarks included), the clean originals, labels,
    which samples carry the watermark, and the seeded train/held-out split."""

    images: np.ndarray
    clean: np.ndarray
    labels: np.ndarray
    watermarked: np.ndarray
    train: np.ndarray
    held_out: np.ndarray


def build_demo_data(seed: int = 0) -> DemoData:
    """Stamp the watermark on most samples of :data:`WATERMARK_CLASS` and few of the others."""
    images, labels = digits_arrays()
    clean = images.astype(np.float32) / 255.0
    watermarked = choose_watermarked(labels, WATERMARK_CLASS, RATE_IN_CLASS, RATE_ELSEWHERE, seed)
    stamped = stamp_watermark(clean, watermarked)
    order = np.random.default_rng(seed + 1).permutation(len(labels))
    split = int(round(len(labels) * (1.0 - HELD_OUT_FRACTION)))
    return DemoData(
        stamped, clean, labels, watermarked, np.sort(order[:split]), np.sort(order[split:])
    )


def write_demo_inputs(data: DemoData, path: str | os.PathLike[str]) -> Path:
    """Write the input HDF5 (``data`` uint8, ``label``; extra ``watermark`` and ``split``) atomically."""
    target = Path(path)
    split = np.zeros(len(data.labels), dtype=np.uint8)
    split[data.held_out] = 1
    with atomic_path(target) as temp, h5py.File(temp, "w") as file:
        file.attrs["relscope_source"] = "relscope demo: digits with a watermark shortcut"
        file.attrs["watermark_class"] = WATERMARK_CLASS
        pixels = np.rint(data.images * 255.0).astype(np.uint8)
        file.create_dataset("data", data=pixels, chunks=(64, 1, 32, 32), compression="gzip")
        file.create_dataset("label", data=data.labels)
        file.create_dataset("watermark", data=data.watermarked)
        file.create_dataset("split", data=split)  # 0 = train, 1 = held out
    return target
