"""Areas of perturbation curves: AOPC (Samek et al. 2017) and ABPC / SRG (Blücher et al. 2024).

Both average over the S+1 points of a curve (the unperturbed output included), per sample; the
normalised variants divide by the unperturbed output."""

from __future__ import annotations

import torch

from relscope.core.errors import EvaluationError


def _check(curve: torch.Tensor, name: str) -> None:
    if curve.dim() != 2 or curve.shape[1] < 2:
        raise EvaluationError(
            f"{name}: expected curves (N, S+1) with S >= 1, got {tuple(curve.shape)}"
        )


def aopc(morf: torch.Tensor, normalised: bool = False) -> torch.Tensor:
    """(N,) area over the MoRF curve: mean over k = 0..S of f(x) - f(x_k)."""
    _check(morf, "aopc")
    area = (morf[:, :1] - morf).mean(1)
    return area / morf[:, 0] if normalised else area


def abpc(morf: torch.Tensor, lerf: torch.Tensor, normalised: bool = False) -> torch.Tensor:
    """(N,) area between the LeRF and MoRF curves (symmetric relevance gain): mean of LeRF - MoRF."""
    _check(morf, "abpc")
    if lerf.shape != morf.shape:
        raise EvaluationError(f"abpc: MoRF {tuple(morf.shape)} and LeRF {tuple(lerf.shape)} differ")
    area = (lerf - morf).mean(1)
    return area / morf[:, 0] if normalised else area
