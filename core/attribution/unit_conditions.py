"""Concepts of transformers: attention heads and MLP neurons, as conditions on the features that
enter a layer (the last axis of its input, in groups of ``unit`` features).

A head is the group of ``head_dim`` features it writes into the attention's output projection
(``o_proj`` / ``out_proj`` / ``attention.output.dense``: its input is (batch, tokens, heads ·
head_dim), head-major); an MLP neuron is one feature entering the MLP's down projection
(``unit=1``). In a residual network most relevance bypasses any one layer, so masking the
relevance at the layer (as for CNN channels) would keep the bypass: here the conditional heatmap
is the relevance that flows *through* the chosen units only. One forward pass; one backward pass
from the output to the layer's input gives every unit's relevance (``unit_relevance``), a second
one from the masked relevance there down to the input gives the conditional heatmaps of all
conditions at once (inputs repeated once per condition). Heatmaps of a partition of the units
sum to the heatmap of all units (the relevance through the layer); each carries its units'
relevance when the composite conserves below the layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.conditions import named_layer
from relscope.core.errors import AttributionError


def _unit_count(layer: str, x: torch.Tensor, unit: int) -> int:
    if not isinstance(unit, int) or unit < 1 or x.dim() < 2 or x.shape[-1] % unit:
        raise AttributionError(
            f"layer {layer!r}: its input {tuple(x.shape)} does not split into units of "
            f"{unit} features along the last axis"
        )
    return x.shape[-1] // unit


def _masks(layer: str, conditions: Sequence[Sequence[int]], units: int, like: Any) -> Any:
    """(K, units) 0/1 rows: condition k keeps its units."""
    masks = torch.zeros(len(conditions), units, dtype=like.dtype, device=like.device)
    for k, chosen in enumerate(conditions):
        picked = [chosen] if isinstance(chosen, int) else list(chosen)
        bad = [u for u in picked if not isinstance(u, int) or not -units <= u < units]
        if bad or not picked:
            what = f"unit index {bad[0]} is out of range" if bad else "a condition is empty"
            raise AttributionError(f"layer {layer!r} has {units} units; {what}")
        masks[k, picked] = 1
    return masks


def _unit_pass(
    model: nn.Module,
    inputs: torch.Tensor,
    layer: str,
    unit: int,
    conditions: Sequence[Sequence[int]] | None,
    target: Any,
    composite: Any,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(unit relevance (N, units), one heatmap per condition) from one forward pass."""
    from relscope.core.attribution.api import get_composite
    from relscope.core.attribution.conditions import _repeat_target
    from relscope.core.attribution.targets import make_attr_output

    module = named_layer(model, layer)
    if isinstance(composite, str):
        composite = get_composite(composite)
    times_input = bool(getattr(composite, "gradient_times_input", False))
    repeats = len(conditions) if conditions else 1
    samples = inputs.shape[0]
    captured: list[torch.Tensor] = []

    def keep(_: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):
            captured.append(args[0])

    handle = module.register_forward_pre_hook(keep)
    context = composite.context(model) if composite is not None else contextlib.nullcontext()
    try:
        with context, torch.enable_grad():
            x = inputs.repeat(repeats, *([1] * (inputs.dim() - 1))).detach().requires_grad_(True)
            output = model(x)
            if len(captured) != 1 or not captured[0].requires_grad:
                raise AttributionError(
                    f"layer {layer!r}: expected one call on an input that depends on the model "
                    f"input, saw {len(captured)}"
                )
            a = captured[0]
            units = _unit_count(layer, a, unit)
            grad_output = make_attr_output(_repeat_target(target, repeats))(output)
            (grad_a,) = torch.autograd.grad(output, a, grad_outputs=grad_output, retain_graph=True)
            relevance_a = grad_a * a.detach() if times_input else grad_a
            per_unit = relevance_a.reshape(a.shape[0], -1, units, unit).sum((1, 3))[:samples]
            if not conditions:
                return per_unit.detach(), []
            masks = _masks(layer, conditions, units, a).repeat_interleave(unit, dim=1)
            rows = masks.repeat_interleave(samples, dim=0)  # (K·N, F)
            rows = rows.reshape(rows.shape[0], *([1] * (a.dim() - 2)), rows.shape[1])
            (grad_x,) = torch.autograd.grad(a, x, grad_outputs=grad_a * rows)
    finally:
        handle.remove()
    heat = grad_x * x.detach() if times_input else grad_x
    return per_unit.detach(), list(heat.detach().split(samples))


def unit_attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    layer: str,
    unit: int,
    conditions: Sequence[Sequence[int] | int],
    target: Any = None,
    composite: Any = None,
) -> list[torch.Tensor]:
    """Input relevance flowing only through the chosen units of ``layer``'s input: one tensor
    shaped like ``inputs`` per condition (a list of unit indices; heads of ``unit`` = head_dim
    features, neurons of ``unit`` = 1), all from one batched forward pass."""
    if not conditions:
        raise AttributionError("unit_attribute needs at least one condition (a list of units)")
    return _unit_pass(model, inputs, layer, unit, list(conditions), target, composite)[1]


def unit_relevance(
    model: nn.Module,
    inputs: torch.Tensor,
    layer: str,
    unit: int,
    target: Any = None,
    composite: Any = None,
) -> torch.Tensor:
    """Each unit's relevance at ``layer``'s input (units of ``unit`` features), summed over
    tokens: (N, units), all units from one backward pass."""
    return _unit_pass(model, inputs, layer, unit, None, target, composite)[0]
