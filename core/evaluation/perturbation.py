"""Pixel flipping / region perturbation: the target output while ever more positions, ranked by
their attribution, are set to a baseline. All (sample, step) copies of a batch run as batched
forwards of ``forward_batch`` rows, never one forward per step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from relscope.core.errors import EvaluationError
from relscope.core.evaluation.baselines import baseline_values
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


@torch.no_grad()
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
    forward_batch: int = 256,
) -> torch.Tensor:
    """(N, S+1) target outputs: unperturbed, then after each step of ``step`` more positions set to
    ``baseline``. Positions are pixels (all channels), ``region``×``region`` patches, or tokens,
    ranked by the attribution summed over channels: highest first ("morf") or lowest ("lerf"),
    ties by position index; the last step perturbs every position (S = ceil(P / step))."""
    if attributions.shape[:1] != inputs.shape[:1]:
        raise EvaluationError(f"{attributions.shape[0]} attributions for {inputs.shape[0]} inputs")
    layout, reduced = layout_for(inputs, attributions.to(inputs.device), region)
    steps = step_count(layout.count, step)
    if forward_batch < 1:
        raise EvaluationError(f"forward_batch must be positive, got {forward_batch}")
    classes = target_classes(target, inputs.shape[0], inputs.device)
    ranks = rank_positions(layout.scores(reduced.double()), order)
    replacement = baseline_values(
        inputs, baseline, layout.kind, seed=seed, blur_sigma=blur_sigma
    ).to(inputs.dtype)
    count = inputs.shape[0]
    needed = _changing_steps(layout, inputs, replacement, ranks, step, steps)
    rows = torch.nonzero(needed.reshape(-1)).squeeze(1)
    curves = torch.empty(count * (steps + 1), dtype=torch.float64, device=inputs.device)
    for start in range(0, len(rows), forward_batch):
        row = rows[start : start + forward_batch]
        sample, done = row // (steps + 1), (row % (steps + 1)) * step
        positions = ranks[sample] < done[:, None]
        mask = layout.element_mask(positions)
        if layout.kind == "image":
            mask = mask[:, None]
        elif inputs.dim() == 3:
            mask = mask[:, :, None]
        perturbed = torch.where(mask, replacement[sample], inputs[sample])
        curves[row] = select_outputs(model(perturbed), classes[sample]).double()
    curves = curves.reshape(count, steps + 1)
    # a step that changes no element repeats the output of the last step that did
    numbers = torch.arange(steps + 1, device=inputs.device).expand(count, -1)
    source = torch.where(needed, numbers, 0).cummax(dim=1).values
    return curves.gather(1, source)


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
