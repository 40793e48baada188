"""Concept Relevance Propagation: relevance conditioned on channels of inner layers.

A condition ``{layer: channels}`` keeps, on the way back, only the relevance that flows through
those channels of the layer's output (all else at that layer is zeroed); several layers in one
condition mean the intersection. A list of conditions runs as one batch (inputs repeated once per
condition). :func:`concept_relevance` reads every channel of a layer from one backward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from relscope.core.errors import AttributionError

Condition = Mapping[str, Sequence[int] | int]


def named_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name``; an unknown name lists the known ones."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        known = ", ".join(n for n in modules if n)
        raise AttributionError(f"unknown layer {name!r}; the model's layers are: {known}")
    return modules[name]


def _check_channel_shaped(name: str, output: Any) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise AttributionError(
            f"layer {name!r}: its output {shape} is not channel-shaped; concepts need a tensor "
            "(batch, channels, ...)"
        )
    return output


def normalize_conditions(conditions: Condition | Sequence[Condition]) -> list[dict[str, list[int]]]:
    """``conditions`` as a list of ``{layer: [channels]}`` (one dict stands for a list of one)."""
    items = [conditions] if isinstance(conditions, Mapping) else list(conditions)
    if not items:
        raise AttributionError("conditions: expected a {layer: channels} dict or a non-empty list")
    result = []
    for item in items:
        if not isinstance(item, Mapping) or not item:
            raise AttributionError(
                f"conditions: expected a non-empty {{layer: channels}} dict, not {item!r}"
            )
        entry: dict[str, list[int]] = {}
        for layer, channels in item.items():
            values = [channels] if isinstance(channels, int) else list(channels)
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in values):
                raise AttributionError(
                    f"conditions[{layer!r}]: expected channel indices (ints), not {channels!r}"
                )
            entry[str(layer)] = values
        result.append(entry)
    return result


def _channel_mask(
    name: str, output: torch.Tensor, per_condition: list[list[int] | None], samples: int
) -> torch.Tensor:
    """A (K·N, C, 1, ...) 0/1 mask: row block k keeps the channels of condition k (None: all)."""
    channels = output.shape[1]
    if output.shape[0] != samples * len(per_condition):
        raise AttributionError(
            f"layer {name!r}: saw a batch of {output.shape[0]}, expected "
            f"{samples * len(per_condition)}; conditions need an attributor that runs the batch as given"
        )
    mask = torch.zeros(len(per_condition), channels, dtype=output.dtype, device=output.device)
    for k, chosen in enumerate(per_condition):
        if chosen is None:
            mask[k] = 1
            continue
        bad = [c for c in chosen if not -channels <= c < channels]
        if bad:
            raise AttributionError(
                f"layer {name!r} has {channels} channels; channel index {bad[0]} is out of range"
            )
        mask[k, chosen] = 1
    shape = (len(per_condition), 1, channels) + (1,) * (output.dim() - 2)
    return mask.reshape(shape).expand(-1, samples, *shape[2:]).reshape(-1, *shape[2:])


class LayerProbe:
    """Forward hooks on named layers: mask relevance by conditions, record relevance/activation.

    ``conditions`` (normalised, K entries) apply to K consecutive blocks of ``samples`` rows;
    ``record`` names layers whose output relevance (summed per channel) and maximal activation per
    channel are kept in :attr:`relevance` and :attr:`activation` after the backward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        conditions: list[dict[str, list[int]]] | None,
        samples: int,
        record: Sequence[str] = (),
    ) -> None:
        self.conditions = conditions or []
        self.samples = samples
        self.relevance: dict[str, torch.Tensor] = {}
        self.activation: dict[str, torch.Tensor] = {}
        names = {n for c in self.conditions for n in c} | set(record)
        self.layers = {name: named_layer(model, name) for name in sorted(names)}
        self.record = set(record)

    def _hook(self, name: str) -> Any:
        per_condition = [c.get(name) for c in self.conditions]
        masked = any(c is not None for c in per_condition)

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            output = _check_channel_shaped(name, output)
            if name in self.record:
                self.activation[name] = (
                    output.detach().flatten(2).amax(2) if output.dim() > 2 else (output.detach())
                )
            if not output.requires_grad:
                return
            mask = _channel_mask(name, output, per_condition, self.samples) if masked else None

            def on_grad(grad: torch.Tensor) -> torch.Tensor | None:
                if name in self.record:
                    self.relevance[name] = (
                        grad.detach().flatten(2).sum(2) if grad.dim() > 2 else (grad.detach())
                    )
                return grad * mask if mask is not None else None

            output.register_hook(on_grad)

        return hook

    @contextmanager
    def attached(self) -> Iterator[LayerProbe]:
        """Hooks installed inside the block, removed afterwards (also on errors)."""
        handles = [m.register_forward_hook(self._hook(n)) for n, m in self.layers.items()]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()


def _repeat_target(target: Any, repeats: int) -> Any:
    """The target for inputs repeated ``repeats`` times along the batch."""
    if repeats == 1 or target is None or isinstance(target, int) or callable(target):
        return target
    if isinstance(target, torch.Tensor):
        return target.repeat(repeats, *([1] * (target.dim() - 1)))
    if isinstance(target, Sequence):
        return list(target) * repeats
    return target


def conditional_attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    conditions: Condition | Sequence[Condition],
    target: Any = None,
    composite: Any = None,
    attributor: Any = "gradient",
    **attributor_params: Any,
) -> torch.Tensor | list[torch.Tensor]:
    """Input relevance flowing only through the conditioned channels (CRP heatmaps).

    One dict gives one tensor shaped like ``inputs``; a list of K dicts gives a list of K such
    tensors, all computed in one batched pass of K·N samples (condition-major; a callable
    ``target`` sees that repeated batch).
    """
    from relscope.core.attribution.api import attribute

    single = isinstance(conditions, Mapping)
    items = normalize_conditions(conditions)
    samples = inputs.shape[0]
    batch = inputs.repeat(len(items), *([1] * (inputs.dim() - 1)))
    probe = LayerProbe(model, items, samples)
    with probe.attached():
        relevance = attribute(
            model,
            batch,
            target=_repeat_target(target, len(items)),
            composite=composite,
            attributor=attributor,
            **attributor_params,
        )
    parts = list(relevance.split(samples))
    return parts[0] if single else parts


def concept_relevance(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = None,
    composite: Any = None,
    layer: str | Sequence[str] = "",
    conditions: Condition | None = None,
    return_activation: bool = False,
) -> Any:
    """Each channel's relevance at ``layer``'s output summed over positions: (N, channels).

    All channels come from one backward pass. ``layer`` may be a list (then a dict per layer);
    ``conditions`` optionally restricts relevance at other (higher) layers first. With
    ``return_activation`` also returns the per-channel maximal activation (same shapes).
    """
    from relscope.core.attribution.api import attribute

    layers = [layer] if isinstance(layer, str) else list(layer)
    if not layers or not all(isinstance(n, str) and n for n in layers):
        raise AttributionError("concept_relevance needs layer=<name> (or a list of names)")
    items = normalize_conditions(conditions) if conditions else None
    probe = LayerProbe(model, items, inputs.shape[0], record=layers)
    with probe.attached():
        attribute(model, inputs, target=target, composite=composite)
    missing = [n for n in layers if n not in probe.relevance]
    if missing:
        raise AttributionError(f"layer {missing[0]!r} was not reached by the backward pass")
    relevance = {n: probe.relevance[n] for n in layers}
    activation = {n: probe.activation[n] for n in layers}
    if isinstance(layer, str):
        relevance, activation = relevance[layer], activation[layer]
    return (relevance, activation) if return_activation else relevance


def attribute_rows(
    attributor: Any, inputs: torch.Tensor, conditions: Sequence[Condition], target: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One condition per row of ``inputs`` (B rows, B conditions), one pass of ``attributor``.

    For reference samples, where every (sample, channel) pair is its own row. Returns the
    attributor's (output, relevance).
    """
    items = normalize_conditions(list(conditions))
    if len(items) != inputs.shape[0]:
        raise AttributionError(f"{len(items)} conditions for {inputs.shape[0]} rows")
    probe = LayerProbe(attributor.model, items, 1)
    with probe.attached():
        return attributor(inputs, target)


def record_layers(
    attributor: Any, inputs: torch.Tensor, layers: Sequence[str], target: Any = None
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One pass of ``attributor`` recording channel relevance and maximal activation of ``layers``.

    Returns (output, input relevance, {layer: (B, C) relevance}, {layer: (B, C) activation}).
    """
    probe = LayerProbe(attributor.model, None, inputs.shape[0], record=layers)
    with probe.attached():
        output, relevance = attributor(inputs, target)
    missing = [n for n in layers if n not in probe.relevance]
    if missing:
        raise AttributionError(f"layer {missing[0]!r} was not reached by the backward pass")
    return output, relevance, probe.relevance, probe.activation
