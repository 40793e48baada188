"""Heatmaps: attributions summed over channels, normalised to 0…1, and stored as colour-map indices.

Indices (uint8, 0…255) are what a heatmap *is*; a colour map only paints them, so palette PNGs
(see :mod:`relscope.core.heatmap_png`) can be recoloured later without recomputing anything.
Modes: ``symmetric`` maps ±max|R| to 0…1 (zero relevance at the middle, index 128), ``absolute``
maps |R| from 0…max|R|, ``unaligned`` maps min…max.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from relscope.core.colormap import get_colormap
from relscope.core.errors import HeatmapError
from relscope.core.heatmap_png import (
    encode_palette_png,
    encode_rgb_png,
    read_palette_png,
    recolor_png,
    write_bytes_atomic,
)

MODES = ("symmetric", "absolute", "unaligned")

__all__ = [
    "MODES",
    "colormap_bar_png",
    "gray_image",
    "heatmap_grid",
    "heatmap_indices",
    "image_png",
    "normalize",
    "overlay_rgb",
    "read_palette_png",
    "recolor_png",
    "render_grid_png",
    "render_overlay",
    "render_palette_png",
    "sum_channels",
    "write_bytes_atomic",
]


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def sum_channels(attribution: Any) -> np.ndarray:
    """Sum relevance over channels: (H, W) stays, (C, H, W) -> (H, W), (N, C, H, W) -> (N, H, W)."""
    array = _to_numpy(attribution).astype(np.float64, copy=False)
    if array.ndim == 2:
        return array
    if array.ndim == 3:
        return array.sum(axis=0)
    if array.ndim == 4:
        return array.sum(axis=1)
    raise HeatmapError(
        f"attribution must be (H, W), (C, H, W) or (N, C, H, W), got shape {array.shape}"
    )


def _normalize_one(relevance: np.ndarray, mode: str) -> np.ndarray:
    if mode == "symmetric":
        scale = np.abs(relevance).max()
        if scale == 0:
            return np.full(relevance.shape, 0.5)
        return (relevance / scale + 1.0) / 2.0
    if mode == "absolute":
        magnitude = np.abs(relevance)
        scale = magnitude.max()
        return magnitude / scale if scale > 0 else np.zeros(relevance.shape)
    low, high = relevance.min(), relevance.max()
    if high == low:
        return np.full(relevance.shape, 0.5)
    return (relevance - low) / (high - low)


def normalize(heatmap: Any, mode: str = "symmetric") -> np.ndarray:
    """Scale a channel-summed heatmap (H, W) or batch (N, H, W) to [0, 1], each sample on its own.

    A heatmap without range maps to 0.5 (symmetric, unaligned) or 0 (absolute).
    """
    if mode not in MODES:
        raise HeatmapError(f"unknown heatmap mode {mode!r}; expected one of {', '.join(MODES)}")
    array = _to_numpy(heatmap).astype(np.float64, copy=False)
    if array.ndim not in (2, 3) or array.size == 0:
        raise HeatmapError(f"heatmap must be a non-empty (H, W) or (N, H, W), got {array.shape}")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise HeatmapError(f"attribution holds {bad} non-finite values (NaN or inf)")
    if array.ndim == 2:
        return np.clip(_normalize_one(array, mode), 0.0, 1.0)
    return np.clip(np.stack([_normalize_one(sample, mode) for sample in array]), 0.0, 1.0)


def heatmap_indices(attribution: Any, mode: str = "symmetric") -> np.ndarray:
    """Colour-map indices uint8 of an attribution: (H, W) for (H, W)/(C, H, W), (N, H, W) for 4-d.

    ``index = floor(255 * normalised + 0.5)``, so symmetric zero relevance is index 128.
    """
    unit = normalize(sum_channels(attribution), mode)
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def heatmap_grid(
    tiles: Sequence[Any], ncols: int | None = None, padding: int = 2, fill: int = 0
) -> np.ndarray:
    """Tile equally sized index arrays (H, W) row by row into one uint8 index array.

    ``ncols`` defaults to ceil(sqrt(n)); tiles are ``padding`` pixels apart, gaps and the empty
    end of the last row hold index ``fill``. The result is again recolourable.
    """
    arrays = [np.asarray(tile) for tile in tiles]
    if not arrays:
        raise HeatmapError("heatmap grid needs at least one heatmap")
    shape = arrays[0].shape
    for number, array in enumerate(arrays):
        if array.ndim != 2 or array.shape != shape:
            raise HeatmapError(
                f"heatmap grid: tile {number} has shape {array.shape}, expected {shape} like tile 0"
            )
    if padding < 0 or not 0 <= fill <= 255:
        raise HeatmapError("heatmap grid: padding must be >= 0 and fill an index in 0..255")
    count = len(arrays)
    cols = ncols if ncols is not None else math.ceil(math.sqrt(count))
    if cols < 1:
        raise HeatmapError(f"heatmap grid: ncols must be >= 1, got {cols}")
    cols = min(cols, count)
    rows = math.ceil(count / cols)
    height, width = shape
    grid = np.full(
        (rows * height + (rows - 1) * padding, cols * width + (cols - 1) * padding),
        fill,
        dtype=np.uint8,
    )
    for number, array in enumerate(arrays):
        top = (number // cols) * (height + padding)
        left = (number % cols) * (width + padding)
        grid[top : top + height, left : left + width] = array
    return grid


def _image_uint8(image: Any) -> np.ndarray:
    """An input image as uint8 (H, W) or (H, W, C): floats in [0, 1] scaled, integers 0..255 kept."""
    array = _to_numpy(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise HeatmapError(
            f"image must be (H, W) or (H, W, C) with C in 1, 3, 4, got shape {array.shape}"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.bool_):
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise HeatmapError(f"integer image values must lie in 0..255, got dtype {array.dtype}")
        return array.astype(np.uint8)
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise HeatmapError("image holds non-finite values (NaN or inf)")
    if values.min() < -1e-4 or values.max() > 1.0 + 1e-4:  # tolerate resampling round-off
        raise HeatmapError(
            f"float image values must lie in [0, 1], got {values.min():.4g}..{values.max():.4g}"
        )
    return np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_png(image: Any) -> bytes:
    """A PNG of an input image: (H, W[, C]) floats in [0, 1] or uint8; grayscale or RGB(A)."""
    return encode_rgb_png(_image_uint8(image))


def _gray_255(image: Any) -> np.ndarray:
    pixels = _image_uint8(image)
    if pixels.ndim == 2:
        return pixels.astype(np.float64)
    weighted = pixels[:, :, :3].astype(np.int64) @ np.array([299, 587, 114], dtype=np.int64)
    return weighted / 1000.0  # integer weights keep white exactly 255


def gray_image(image: Any) -> np.ndarray:
    """Grey levels (H, W) float in [0, 1] of an image (luma 0.299 R + 0.587 G + 0.114 B)."""
    return _gray_255(image) / 255.0


def overlay_rgb(indices: Any, image: Any, cmap: Any, alpha: float = 0.5) -> np.ndarray:
    """uint8 (H, W, 3): ``alpha * colour(index) + (1 - alpha) * 255 * grey(image)``, rounded."""
    if not 0.0 <= alpha <= 1.0:
        raise HeatmapError(f"overlay alpha must lie in [0, 1], got {alpha}")
    index = np.asarray(indices)
    gray = _gray_255(image)
    if index.ndim != 2 or index.shape != gray.shape:
        raise HeatmapError(
            f"overlay: heatmap shape {index.shape} does not match image shape {gray.shape}"
        )
    colors = get_colormap(cmap)(index).astype(np.float64)
    mixed = alpha * colors + (1.0 - alpha) * gray[:, :, None]
    return np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8)


def render_overlay(indices: Any, image: Any, cmap: Any, alpha: float = 0.5) -> bytes:
    """An RGB PNG of the heatmap drawn over a grey-scale version of the input image."""
    return encode_rgb_png(overlay_rgb(indices, image, cmap, alpha))


def render_palette_png(indices: Any, cmap: Any, text: dict[str, str] | None = None) -> bytes:
    """An 8-bit palette PNG: pixels are the indices (H, W), the palette is the colour map."""
    return encode_palette_png(indices, get_colormap(cmap), extra_text=text)


def render_grid_png(
    tiles: Sequence[Any], cmap: Any, ncols: int | None = None, padding: int = 2, fill: int = 0
) -> bytes:
    """A palette PNG of :func:`heatmap_grid` (recolourable like a single heatmap)."""
    return render_palette_png(heatmap_grid(tiles, ncols, padding, fill), cmap)


def colormap_bar_png(cmap: Any, width: int = 256, height: int = 16) -> bytes:
    """A preview bar of a colour map (low left, high right) as a palette PNG."""
    if width < 1 or height < 1:
        raise HeatmapError(f"colour bar size must be positive, got {width}x{height}")
    row = np.floor(np.linspace(0.0, 255.0, width) + 0.5).astype(np.uint8)
    return render_palette_png(np.tile(row, (height, 1)), cmap)
