"""Turn a user's ``target`` into an output-relevance function ``output -> relevance``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import torch

from relscope.core.errors import AttributionError

AttrOutput = Callable[[torch.Tensor], torch.Tensor]


def _one_hot(output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    if output.dim() < 2:
        raise AttributionError(
            f"a class target needs a model output of shape (batch, classes, ...); got {tuple(output.shape)}"
        )
    n_classes = output.shape[1]
    bad = classes[(classes < 0) | (classes >= n_classes)]
    if bad.numel():
        raise AttributionError(
            f"target class {int(bad[0])} is out of range: the model has {n_classes} outputs"
        )
    if classes.numel() == 1:
        classes = classes.expand(output.shape[0])
    if classes.numel() != output.shape[0]:
        raise AttributionError(
            f"got {classes.numel()} targets for a batch of {output.shape[0]} samples; "
            "give one target per sample or a single int"
        )
    relevance = torch.zeros_like(output)
    index = (
        classes.to(output.device)
        .view(-1, *([1] * (output.dim() - 1)))
        .expand(output.shape[0], 1, *output.shape[2:])
    )
    return relevance.scatter_(1, index, 1.0)


def _broadcast(output: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    relevance = relevance.to(device=output.device, dtype=output.dtype)
    try:
        return torch.broadcast_to(relevance, output.shape)
    except RuntimeError:
        raise AttributionError(
            f"the output relevance has shape {tuple(relevance.shape)}, which does not broadcast "
            f"to the model output of shape {tuple(output.shape)}"
        ) from None


def make_attr_output(target: Any) -> AttrOutput:
    """An ``output -> output relevance`` function for ``target``.

    ``None``: one-hot at each sample's highest output; an int: one-hot at that class for every
    sample; a sequence or integer tensor: one class per sample; a float tensor: the output relevance
    itself (broadcast to the output); a callable: used as is (its result is broadcast-checked).
    """
    if target is None:
        return lambda output: _one_hot(
            output,
            output.detach().flatten(2).sum(2).argmax(1)
            if output.dim() > 2
            else output.detach().argmax(1),
        )
    if callable(target) and not isinstance(target, torch.Tensor):
        return lambda output: _broadcast(output, _as_tensor_result(target(output)))
    if isinstance(target, bool):
        raise AttributionError(
            f"target must be an int, ints, a tensor or a callable, not {target!r}"
        )
    if isinstance(target, Integral):
        classes = torch.tensor([int(target)])
        return lambda output: _one_hot(output, classes)
    if isinstance(target, torch.Tensor):
        if target.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
            classes = target.reshape(-1).long()
            return lambda output: _one_hot(output, classes)
        if not target.is_floating_point():
            raise AttributionError(
                f"a target tensor must hold class indices or floats, not {target.dtype}"
            )
        tensor = target.detach()
        return lambda output: _broadcast(output, tensor)
    if isinstance(target, Sequence) and not isinstance(target, str):
        if not all(isinstance(item, Integral) and not isinstance(item, bool) for item in target):
            raise AttributionError("a target sequence must hold one int class index per sample")
        classes = torch.tensor([int(item) for item in target], dtype=torch.long)
        return lambda output: _one_hot(output, classes)
    raise AttributionError(
        f"target must be an int, a sequence of ints, a tensor or a callable, not {type(target).__name__}"
    )


def _as_tensor_result(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AttributionError(
            f"the target function must return a tensor of output relevance, not {type(value).__name__}"
        )
    return value.detach()
