"""What a perturbed position is set to: a number, the per-channel mean, a blurred copy, or seeded
uniform noise over the sample's value range. Each is a tensor shaped like the inputs."""

from __future__ import annotations

from numbers import Real

import torch

from relscope.core.errors import EvaluationError
from relscope.core.evaluation.gaussian import gaussian_filter

#: the named baselines (besides a number)
BASELINES = ("mean", "blur", "uniform")


def baseline_values(
    inputs: torch.Tensor,
    baseline: float | str,
    kind: str,
    *,
    seed: int = 0,
    blur_sigma: float = 2.0,
) -> torch.Tensor:
    """The replacement values for every element of ``inputs`` (``kind``: "image" or "tokens").

    "mean": per sample, the mean of each channel (image) or feature (tokens) over positions;
    "blur": a Gaussian blur (``blur_sigma`` positions) over the spatial axes; "uniform": noise
    drawn uniformly between each sample's minimum and maximum, from a generator seeded ``seed``.
    """
    if isinstance(baseline, Real) and not isinstance(baseline, bool):
        if not inputs.is_floating_point() and float(baseline) != int(baseline):
            raise EvaluationError(
                f"baseline {baseline!r}: integer inputs (token ids) need an integer baseline"
            )
        return torch.full_like(inputs, baseline)
    if baseline not in BASELINES:
        raise EvaluationError(
            f"unknown baseline {baseline!r}; expected a number or one of {', '.join(BASELINES)}"
        )
    if not inputs.is_floating_point():
        raise EvaluationError(
            f"baseline {baseline!r} needs floating-point inputs; token ids take a number (an id)"
        )
    if baseline == "mean":
        if kind == "image":
            return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs).clone()
        return inputs.mean(dim=1, keepdim=True).expand_as(inputs).clone()
    if baseline == "blur":
        if blur_sigma <= 0:
            raise EvaluationError(f"blur_sigma must be positive, got {blur_sigma}")
        if kind == "image":
            return gaussian_filter(inputs, blur_sigma, axes=2)
        if inputs.dim() == 3:  # (N, T, D): blur along T
            return gaussian_filter(inputs.transpose(1, 2), blur_sigma, axes=1).transpose(1, 2)
        return gaussian_filter(inputs, blur_sigma, axes=1)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    flat = inputs.reshape(inputs.shape[0], -1)
    low, high = flat.min(1).values, flat.max(1).values
    noise = torch.rand(flat.shape, generator=generator, dtype=torch.float64)
    noise = noise.to(device=inputs.device, dtype=inputs.dtype)
    return (low[:, None] + noise * (high - low)[:, None]).reshape(inputs.shape)
