"""Completeness / conservation error: how far an attribution's sum is from the explained output."""

from __future__ import annotations

import torch


def completeness_error(
    attributions: torch.Tensor, outputs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per sample ``|sum(attribution) - output|`` (``absolute``) and that divided by ``|output|``
    (``relative``); ``outputs`` (N,) are the explained target outputs (logits)."""
    total = attributions.reshape(attributions.shape[0], -1).double().sum(1)
    target = outputs.reshape(-1).double().to(total.device)
    error = (total - target).abs()
    return {"absolute": error, "relative": error / target.abs().clamp_min(1e-12)}
