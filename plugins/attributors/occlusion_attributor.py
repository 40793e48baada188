"""Occlusion: how much the score drops when a window of the input is filled, spread over the window."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attributor import Attributor
from relscope.core.attribution.targets import AttrOutput
from relscope.core.errors import AttributionError


def _as_tuple(value: int | Sequence[int], what: str) -> tuple[int, ...]:
    values = (value,) if isinstance(value, int) else tuple(value)
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise AttributionError(
            f"occlusion: {what} must be an int >= 1 or a tuple of them, got {value!r}"
        )
    return values


def _starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts every ``stride``, plus one flush with the end so that all values are covered."""
    last = max(size - window, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


class Occlusion(Attributor):
    """Fill windows of the input and attribute each window the drop of the score it causes.

    The score of an output ``y`` is ``sum(attr_output(y_clean) * y)`` (for a class target: that
    class's output). For each window ``w`` the occluded copy scores ``s_w``; the drop
    ``s_clean - s_w`` is spread evenly over the window's values, and each value sums the shares of
    every window covering it. So with windows that tile the input, the relevance sums to the total
    drop. ``window`` and ``stride`` are ints (applied to every axis after the channel axis; the
    window spans all channels) or tuples over all non-batch axes (or all axes after the channel
    axis). The last window on an axis is placed flush with its end. ``fill`` is a number or a
    tensor broadcastable to the inputs; ``batch_size`` bounds the occluded copies per forward pass.
    Needs no gradient, so it takes no composite.
    """

    name = "occlusion"

    def __init__(
        self,
        model: nn.Module,
        composite: Any = None,
        window: int | Sequence[int] = 8,
        stride: int | Sequence[int] | None = None,
        fill: float | torch.Tensor = 0.0,
        batch_size: int = 32,
    ) -> None:
        if composite is not None:
            raise AttributionError(
                "occlusion evaluates the model's outputs only and takes no composite; "
                "pass composite=None"
            )
        super().__init__(model, None)
        self.window = _as_tuple(window, "window")
        self.stride = self.window if stride is None else _as_tuple(stride, "stride")
        if isinstance(fill, bool) or not isinstance(fill, (int, float, torch.Tensor)):
            raise AttributionError(f"occlusion: fill must be a number or a tensor, not {fill!r}")
        self.fill = fill
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise AttributionError(f"occlusion: batch_size must be an int >= 1, got {batch_size!r}")
        self.batch_size = batch_size

    def _full(self, values: tuple[int, ...], shape: torch.Size, what: str) -> tuple[int, ...]:
        """``values`` expanded to one entry per non-batch axis of ``shape``."""
        axes = len(shape) - 1
        if len(values) == axes:
            full = values
        elif len(values) == 1 and axes >= 2:
            full = (shape[1], *values * (axes - 1))
        elif len(values) == 1:
            full = values
        elif len(values) == axes - 1:
            full = (shape[1], *values)
        else:
            raise AttributionError(
                f"occlusion: {what} {values} does not fit inputs of shape {tuple(shape)}: give one "
                f"int, {axes - 1} values (axes after the channel axis) or {axes} values"
            )
        return tuple(min(v, s) for v, s in zip(full, shape[1:], strict=True))

    def windows(self, shape: torch.Size) -> list[tuple[slice, ...]]:
        """The occlusion windows for inputs of ``shape`` (batch first), as slices per axis."""
        window = self._full(self.window, shape, "window")
        stride = self._full(self.stride, shape, "stride")
        starts = [_starts(size, w, s) for size, w, s in zip(shape[1:], window, stride, strict=True)]
        return [
            tuple(slice(b, b + w) for b, w in zip(begin, window, strict=True))
            for begin in itertools.product(*starts)
        ]

    def _fill_for(self, inputs: torch.Tensor) -> torch.Tensor:
        fill = torch.as_tensor(self.fill, dtype=inputs.dtype, device=inputs.device)
        try:
            return torch.broadcast_to(fill, inputs.shape)
        except RuntimeError:
            raise AttributionError(
                f"occlusion: fill of shape {tuple(fill.shape)} does not broadcast to the inputs "
                f"of shape {tuple(inputs.shape)}"
            ) from None

    def compute(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score the clean input and every occluded copy (in batches); spread the drops."""
        if inputs.dim() < 2:
            raise AttributionError(
                f"occlusion: inputs must be batch first with features, got shape {tuple(inputs.shape)}"
            )
        inputs = inputs.detach()
        n = inputs.shape[0]
        fill = self._fill_for(inputs)
        windows = self.windows(inputs.shape)
        relevance = torch.zeros_like(inputs)
        per_batch = max(1, self.batch_size // n)
        with torch.no_grad():
            output = self.model(inputs)
            weights = attr_output(output)
            clean = (weights * output).reshape(n, -1).sum(1)
            for first in range(0, len(windows), per_batch):
                chunk = windows[first : first + per_batch]
                copies = inputs.repeat(len(chunk), *([1] * (inputs.dim() - 1)))
                for j, window in enumerate(chunk):
                    index = (slice(j * n, (j + 1) * n), *window)
                    copies[index] = fill[(slice(None), *window)]
                occluded = self.model(copies)
                scores = weights.repeat(len(chunk), *([1] * (weights.dim() - 1))) * occluded
                scores = scores.reshape(len(chunk), n, -1).sum(2)
                for j, window in enumerate(chunk):
                    size = math.prod(s.stop - s.start for s in window)
                    drop = (clean - scores[j]) / size
                    relevance[(slice(None), *window)] += drop.reshape(
                        n, *([1] * (inputs.dim() - 1))
                    )
        return output, relevance
