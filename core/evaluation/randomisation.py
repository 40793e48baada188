"""Sanity checks (Adebayo et al. 2018): how much an attribution changes when the model's layers
are randomised from the top down (cascading), or when it explains a random other class.

``explain(model, inputs, classes) -> attributions`` recomputes the attribution method on any model,
so the checks apply to every method (LRP composites, gradients, integrated gradients)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from relscope.core.errors import EvaluationError
from relscope.core.evaluation.similarity import spearman, ssim

Explain = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def heatmaps(attributions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Attributions summed over channels (images) or features (tokens (N, T, D))."""
    if inputs.dim() == 4 and attributions.dim() == 4:
        return attributions.sum(1)
    if inputs.dim() == 3 and attributions.dim() == 3:
        return attributions.sum(2)
    return attributions


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules holding their own parameters, top (last registered) first."""
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]
    return layers[::-1]


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters: its ``reset_parameters`` when it has one, else
    a normal draw with each tensor's own standard deviation (deterministic in ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                for parameter in module.parameters(recurse=False):
                    std = float(parameter.std()) if parameter.numel() > 1 else 1.0
                    parameter.normal_(0.0, std or 1.0)


def _compare(reference: torch.Tensor, other: torch.Tensor, inputs: torch.Tensor) -> dict:
    first, second = heatmaps(reference, inputs).detach(), heatmaps(other, inputs).detach()
    a, b = first.cpu().numpy(), second.cpu().numpy()
    return {
        "rank_correlation": spearman(a, b),
        "rank_correlation_abs": spearman(np.abs(a), np.abs(b)),
        "ssim": ssim(first, second),
    }


def cascading_randomisation(
    model: nn.Module,
    inputs: torch.Tensor,
    classes: torch.Tensor,
    explain: Explain,
    *,
    seed: int = 0,
    reference: torch.Tensor | None = None,
) -> dict[str, object]:
    """Randomise the parameter layers one more at a time from the top; per step and sample, the
    rank correlation (signed and of absolute values) and SSIM between the original attribution
    (``reference``, computed when not given) and the attribution of the randomised model.

    Returns ``layers`` (names, top first) and arrays (N, L) for each similarity."""
    layers = parameter_layers(model)
    if not layers:
        raise EvaluationError("cascading randomisation: the model has no parameters")
    if reference is None:
        reference = explain(model, inputs, classes)
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    results: dict[str, list[np.ndarray]] = {}
    for number, (name, _) in enumerate(layers):
        _randomise(modules[name], seed + number)
        for key, values in _compare(
            reference, explain(randomised, inputs, classes), inputs
        ).items():
            results.setdefault(key, []).append(values)
    return {"layers": [name for name, _ in layers]} | {
        key: np.stack(values, axis=1) for key, values in results.items()
    }


def randomised_label(
    model: nn.Module,
    inputs: torch.Tensor,
    classes: torch.Tensor,
    explain: Explain,
    outputs: int,
    *,
    seed: int = 0,
    reference: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """Explain a uniformly drawn other class (seeded) and compare with the attribution of the
    target: per sample rank correlations and SSIM; a faithful method should differ."""
    if outputs < 2:
        raise EvaluationError("randomised-label check: the model needs at least two outputs")
    generator = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, outputs, (len(classes),), generator=generator).to(classes.device)
    other = (classes + shift) % outputs
    if reference is None:
        reference = explain(model, inputs, classes)
    return _compare(reference, explain(model, inputs, other), inputs)
