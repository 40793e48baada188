"""Channels-last execution for convolutional image models: the 4-D weights are laid out
channels-last for the duration of a block and the original tensors are put back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def wants_channels_last(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Whether ``inputs`` are images and ``model`` holds 4-D (convolution) weights."""
    return inputs.dim() == 4 and any(p.dim() == 4 for p in model.parameters())


@contextmanager
def channels_last_weights(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with its 4-D parameters channels-last; the very same tensors are restored on
    exit (also after an exception), so nothing outside the block sees a change."""
    saved = [(p, p.data) for p in model.parameters() if p.dim() == 4]
    try:
        for parameter, data in saved:
            parameter.data = data.contiguous(memory_format=torch.channels_last)
        yield model
    finally:
        for parameter, data in saved:
            parameter.data = data
