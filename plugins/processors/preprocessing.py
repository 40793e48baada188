"""Preprocessing processors: per-sample transforms of attribution batches before any geometry.

Each takes a batch with the sample axis first and keeps it; inputs a step does not apply to pass
through unchanged (the cache then records "output is input" instead of a copy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, one_of, processor
from relscope.core.errors import ProcessorError


def _batch(data: Any, owner: str, min_ndim: int = 1) -> np.ndarray:
    if isinstance(data, dict) and "input_ids" in data:
        raise ProcessorError(
            f"{owner}: token relevance needs a token view first: --task preprocess=token_bag "
            "(relevance per vocabulary id) or preprocess=token_positions"
        )
    array = np.asarray(data)
    if array.ndim < min_ndim or array.dtype.kind not in "biuf":
        raise ProcessorError(
            f"{owner}: expected a numeric batch with >= {min_ndim} axes, got "
            f"{array.dtype}{list(array.shape)}"
        )
    return array


def _floating(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.kind == "f" else array.astype(np.float32)


@processor
class SumChannels(Processor):
    """Sum (N, C, H, W) or (N, H, W, C) over channels to (N, H, W); other shapes pass through.

    ``channel_axis`` "auto" takes axis 1 unless axis 3 is smaller (channels-last).
    """

    channel_axis: Any = Param(
        (int, str),
        "auto",
        check=lambda v: None if v in ("auto", 1, 3) else "must be 'auto', 1 or 3",
    )

    def function(self, data: Any) -> Any:
        """Sum over the channel axis of a 4-D batch."""
        array = _batch(data, "SumChannels")
        if array.ndim != 4:
            return data
        axis = self.channel_axis
        if axis == "auto":
            axis = 3 if array.shape[3] < array.shape[1] else 1
        if array.shape[axis] == 1 and array.dtype.kind == "f":
            return array[:, 0] if axis == 1 else array[..., 0]  # a view, not a copy
        return array.sum(axis=axis, dtype=array.dtype if array.dtype.kind == "f" else np.float32)


@processor
class Absolute(Processor):
    """Element-wise absolute value (relevance magnitude regardless of sign)."""

    def function(self, data: Any) -> Any:
        """``|data|``."""
        return np.abs(_batch(data, "Absolute"))


@processor
class NormalizePerSample(Processor):
    """Divide each sample by its norm ("l2", "l1" or "max" of absolute values); zeros stay zero."""

    norm: str = Param(str, "l2", check=one_of("l2", "l1", "max"))

    def function(self, data: Any) -> Any:
        """Scale every sample to unit norm (norms in float64, in row blocks: little extra memory)."""
        array = _floating(_batch(data, "NormalizePerSample", 1))
        flat = array.reshape(array.shape[0], -1)
        scale = np.empty(array.shape[0], dtype=np.float64)
        for start in range(0, len(flat), 4096):
            block = np.abs(flat[start : start + 4096], dtype=np.float64)
            if self.norm == "l2":
                scale[start : start + 4096] = np.sqrt(np.einsum("ij,ij->i", block, block))
            elif self.norm == "l1":
                scale[start : start + 4096] = block.sum(axis=1)
            else:
                scale[start : start + 4096] = block.max(axis=1, initial=0.0)
        scale[scale == 0] = 1.0
        shape = (-1,) + (1,) * (array.ndim - 1)
        return array / scale.astype(array.dtype).reshape(shape)


@processor
class Flatten(Processor):
    """Reshape (N, ...) to (N, features); a 2-D batch passes through."""

    def function(self, data: Any) -> Any:
        """``data.reshape(N, -1)``."""
        array = _batch(data, "Flatten")
        if array.ndim == 2:
            return data
        return array.reshape(array.shape[0], -1)


def _spatial(array: np.ndarray, owner: str) -> tuple[int, int]:
    if array.ndim < 3:
        raise ProcessorError(
            f"{owner}: expected (N, H, W) or (N, C, H, W), got {list(array.shape)}"
        )
    return array.shape[-2], array.shape[-1]


@processor
class Resize(Processor):
    """Resize the last two axes to ``size`` (height, width) with linear interpolation."""

    size: tuple = Param(tuple, (32, 32), check=at_least(1))
    order: int = Param(int, 1, check=one_of(0, 1, 3))

    def function(self, data: Any) -> Any:
        """Interpolate every sample to ``size``."""
        from scipy.ndimage import zoom

        array = _floating(_batch(data, "Resize"))
        height, width = _spatial(array, "Resize")
        if len(self.size) != 2:
            raise ProcessorError(f"Resize: size must be (height, width), got {self.size}")
        factors = (1.0,) * (array.ndim - 2) + (self.size[0] / height, self.size[1] / width)
        out = zoom(array, factors, order=self.order, grid_mode=True, mode="nearest")
        return out.astype(array.dtype, copy=False)


@processor
class Pooling(Processor):
    """Pool non-overlapping ``size`` x ``size`` blocks of the last two axes (sum, mean or max)."""

    size: int = Param(int, 2, check=at_least(1))
    mode: str = Param(str, "sum", check=one_of("sum", "mean", "max"))

    def function(self, data: Any) -> Any:
        """Block-reduce; rows and columns beyond a whole block are dropped."""
        array = _floating(_batch(data, "Pooling"))
        height, width = _spatial(array, "Pooling")
        s = self.size
        if s > height or s > width:
            raise ProcessorError(f"Pooling: size {s} exceeds the spatial shape {height}x{width}")
        h, w = height // s, width // s
        blocks = array[..., : h * s, : w * s].reshape(*array.shape[:-2], h, s, w, s)
        reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[self.mode]
        return reduce(blocks, axis=(-3, -1)).astype(array.dtype, copy=False)


@processor
class Histogram(Processor):
    """Per-sample histogram of values over ``bins`` shared bins, as fractions: (N, bins).

    ``value_range`` None uses the batch's (min, max), so all samples share the same bins.
    """

    bins: int = Param(int, 32, check=at_least(1))
    value_range: tuple | None = Param((tuple, type(None)), None)

    def function(self, data: Any) -> Any:
        """Count each sample's values into the shared bins."""
        array = _batch(data, "Histogram")
        flat = array.reshape(array.shape[0], -1).astype(np.float64, copy=False)
        if self.value_range is None:
            low, high = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 1.0)
        else:
            low, high = (float(v) for v in self.value_range)
        if high <= low:
            high = low + 1.0
        edges = np.linspace(low, high, self.bins + 1)
        which = np.clip(np.searchsorted(edges, flat, side="right") - 1, 0, self.bins - 1)
        offsets = np.arange(flat.shape[0])[:, None] * self.bins
        counts = np.bincount((which + offsets).ravel(), minlength=flat.shape[0] * self.bins)
        counts = counts.reshape(flat.shape[0], self.bins)
        return (counts / max(flat.shape[1], 1)).astype(np.float32)


@hookimpl
def register_processors(register: Any) -> None:
    """Register the preprocessing processors."""
    register("sum_channels", SumChannels)
    register("absolute", Absolute)
    register("normalize", NormalizePerSample)
    register("flatten", Flatten)
    register("resize", Resize)
    register("pooling", Pooling)
    register("histogram", Histogram)
