"""Pixel flipping / region perturbation: the target output while ever more positions, ranked by
their attribution, are set to a baseline. All (sample, step) copies of a batch run as batched
forwards of ``forward_batch`` rows, never one forward per step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from relscope.core.errors import EvaluationError
from relscope.core.evaluation.baselines import baseline_values
from relscope.core.evaluation.memory_format import channels_last_weights, wants_channels_last
from relscope.core.evaluation.positions import layout_for, rank_positions


def target_classes(target: Any, count: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,) long class per sample from an int, a sequence or a tensor."""
    if isinstance(target, bool):
        raise EvaluationError(f"target must be a class index or one per sample, not {target!r}")
    if isinstance(target, int):
        classes = torch.full((count,), target, dtype=torch.long)
    else:
        classes = torch.as_tensor(
            target if isinstance(target, torch.Tensor) else list(target)
        ).reshape(-1)
        if classes.is_floating_point() or classes.numel() != count:
            raise EvaluationError(
                f"target must hold {count} class indices (one per sample), got {tuple(classes.shape)}"
            )
        classes = classes.long()
    if (classes < 0).any():
        raise EvaluationError(f"target {int(classes.min())} is negative")
    return classes.to(device)


def select_outputs(output: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``output[i, classes[i]]`` for (R, K) outputs; a class outside K is an EvaluationError."""
    output = output.reshape(output.shape[0], -1)
    if int(classes.max()) >= output.shape[1]:
        raise EvaluationError(
            f"target {int(classes.max())} is outside the model's {output.shape[1]} outputs"
        )
    return output.gather(1, classes[:, None]).squeeze(1)


def step_count(positions: int, step: int) -> int:
    """Number of perturbation steps S for ``positions`` positions, ``step`` more at each step."""
    if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
        raise EvaluationError(f"step must be a positive integer, got {step!r}")
    if step > positions:
        raise EvaluationError(f"step {step} is larger than the {positions} positions of the input")
    return math.ceil(positions / step)


#: rows per forward pass when none is given
DEFAULT_FORWARD_BATCH = 128


def pixel_flipping(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor,
    step: int = 1,
    baseline: float | str = 0.0,
    order: str = "morf",
    region: int = 1,
    *,
    seed: int = 0,
    blur_sigma: float = 2.0,
    forward_batch: int = DEFAULT_FORWARD_BATCH,
) -> torch.Tensor:
    """(N, S+1) target outputs: unperturbed, then after each step of ``step`` more positions set to
    ``baseline``. Positions are pixels (all channels), ``region``×``region`` patches, or tokens,
    ranked by the attribution summed over channels: highest first ("morf") or lowest ("lerf"),
    ties by position index; the last step perturbs every position (S = ceil(P / step))."""
    return perturbation_curves(
        model, inputs, attributions, target, step, baseline, (order,), region,
        seed=seed, blur_sigma=blur_sigma, forward_batch=forward_batch,
    )[order]  # fmt: skip


def perturbation_curves(
    model: nn.Module,
    inputs: torch.Tensor,
    attributions: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor,
    step: int = 1,
    baseline: float | str = 0.0,
    orders: Sequence[str] = ("morf", "lerf"),
    region: int = 1,
    *,
    seed: int = 0,
    blur_sigma: float = 2.0,
    forward_batch: int = DEFAULT_FORWARD_BATCH,
) -> dict[str, torch.Tensor]:
    """The :func:`pixel_flipping` curve of every order in ``orders``, from one set of forwards.

    Each distinct perturbed input runs once: the unperturbed row and the fully perturbed row are
    shared by the orders (and the fully perturbed row by all samples when their baselines are
    equal), and a step that changes no element repeats the output of the last one that did."""
    if attributions.shape[:1] != inputs.shape[:1]:
        raise EvaluationError(f"{attributions.shape[0]} attributions for {inputs.shape[0]} inputs")
    layout, reduced = layout_for(inputs, attributions.to(inputs.device), region)
    steps = step_count(layout.count, step)
    if forward_batch < 1:
        raise EvaluationError(f"forward_batch must be positive, got {forward_batch}")
    orders = tuple(dict.fromkeys(orders))
    classes = target_classes(target, inputs.shape[0], inputs.device)
    scores = layout.scores(reduced.double())
    ranks = torch.stack([rank_positions(scores, order) for order in orders])  # (O, N, P)
    replacement = baseline_values(
        inputs, baseline, layout.kind, seed=seed, blur_sigma=blur_sigma
    ).to(inputs.dtype)
    needed = torch.stack(
        [_changing_steps(layout, inputs, replacement, r, step, steps) for r in ranks]
    )  # (O, N, S+1)
    shared_full = bool((replacement == replacement[:1]).all())
    with torch.inference_mode():
        values = _run_rows(
            model, inputs, replacement, layout, ranks, classes, needed, step, shared_full,
            forward_batch,
        )  # fmt: skip
    curves = torch.empty(needed.shape, dtype=torch.float64, device=inputs.device)
    curves[needed] = values
    # a step that changes no element repeats the output of the last step that did
    numbers = torch.arange(steps + 1, device=inputs.device).expand_as(needed)
    source = torch.where(needed, numbers, 0).cummax(dim=2).values
    filled = curves.gather(2, source)
    return {order: filled[o].clone() for o, order in enumerate(orders)}


def _run_rows(
    model: nn.Module,
    inputs: torch.Tensor,
    replacement: torch.Tensor,
    layout: Any,
    ranks: torch.Tensor,
    classes: torch.Tensor,
    needed: torch.Tensor,
    step: int,
    shared_full: bool,
    forward_batch: int,
) -> torch.Tensor:
    """The target output of every needed (order, sample, step), in ``needed``'s order, running
    each distinct perturbed input once, ``forward_batch`` rows per forward."""
    orders, count, width = needed.shape
    steps = width - 1
    order, sample, number = torch.nonzero(needed, as_tuple=True)
    # rows with the same input: step 0 (any order), step S (any order; any sample if shared)
    ends = (number == 0) | (number == steps)
    key_order = torch.where(ends, 0, order)
    key_sample = torch.where((number == steps) & shared_full, 0, sample)
    keys = (key_order * count + key_sample) * width + number
    unique, row_of = torch.unique(keys, return_inverse=True)
    row_order = unique // (count * width)
    row_sample = unique // width % count
    row_done = unique % width * step
    by_row = torch.argsort(row_of, stable=True)
    bounds = torch.searchsorted(row_of[by_row], torch.arange(0, len(unique) + 1, forward_batch))
    bounds = torch.cat([bounds, bounds.new_tensor([len(row_of)])]).tolist()
    values = torch.empty(len(row_of), dtype=torch.float64, device=inputs.device)
    last = layout.kind == "image" and wants_channels_last(model, inputs)
    first = replacement.reshape(-1)[:1]
    constant = first.item() if bool((replacement == first).all()) else None  # a number baseline
    context = channels_last_weights(model) if last else nullcontext(model)
    with context:
        for chunk, start in enumerate(range(0, len(unique), forward_batch)):
            rows = slice(start, start + forward_batch)
            o, n = row_order[rows], row_sample[rows]
            mask = layout.element_mask(ranks[o, n] < row_done[rows, None])
            if layout.kind == "image":
                mask = mask[:, None]
            elif inputs.dim() == 3:
                mask = mask[:, :, None]
            if constant is not None:
                perturbed = inputs[n].masked_fill_(mask, constant)
            else:
                perturbed = torch.where(mask, replacement[n], inputs[n])
            if last:
                perturbed = perturbed.contiguous(memory_format=torch.channels_last)
            output = model(perturbed)
            users = by_row[bounds[chunk] : bounds[chunk + 1]]
            values[users] = select_outputs(
                output[row_of[users] - start], classes[sample[users]]
            ).double()
    return values


def _changing_steps(
    layout: Any,
    inputs: torch.Tensor,
    replacement: torch.Tensor,
    ranks: torch.Tensor,
    step: int,
    steps: int,
) -> torch.Tensor:
    """(N, S+1) bool: the unperturbed row, and each step whose new positions change an element
    (positions already equal to the baseline, such as a black background set to 0, do not)."""
    differs = inputs != replacement
    if layout.kind == "image":
        differs = differs.any(1)
    elif inputs.dim() == 3:
        differs = differs.any(2)
    changes = layout.scores(differs.to(torch.float32)) > 0  # (N, P): any element of it differs
    needed = torch.zeros(inputs.shape[0], steps + 1, device=inputs.device)
    needed.scatter_add_(1, ranks // step + 1, changes.to(needed.dtype))
    needed[:, 0] = 1
    return needed > 0
