"""How alike two batches of heatmaps are: Spearman rank correlation and SSIM, per sample."""

from __future__ import annotations

import numpy as np
import torch

from relscope.core.evaluation.gaussian import gaussian_filter


def spearman(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N,) Spearman rank correlation of the flattened rows (ties get their average rank; a
    constant row correlates 0 with anything)."""
    from scipy.stats import rankdata

    a = rankdata(np.asarray(first, dtype=np.float64).reshape(len(first), -1), axis=1)
    b = rankdata(np.asarray(second, dtype=np.float64).reshape(len(second), -1), axis=1)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    norm = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(1) / np.where(norm > 0, norm, 1), 0.0)


def _unit(maps: torch.Tensor) -> torch.Tensor:
    """|maps| scaled to [0, 1] per sample (zero maps stay zero)."""
    flat = maps.abs().reshape(maps.shape[0], -1)
    peak = flat.max(1).values.clamp_min(torch.finfo(flat.dtype).tiny)
    return (flat / peak[:, None]).reshape(maps.shape)


def ssim(first: torch.Tensor, second: torch.Tensor, sigma: float = 1.5) -> np.ndarray:
    """(N,) mean structural similarity of |heatmaps| (N, H, W) or (N, T), each scaled to [0, 1],
    with a Gaussian window of ``sigma`` (Wang et al. 2004, constants for a data range of 1)."""
    x, y = _unit(first.double()), _unit(second.double())
    axes = x.dim() - 1
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = gaussian_filter(x, sigma, axes), gaussian_filter(y, sigma, axes)
    var_x = gaussian_filter(x * x, sigma, axes) - mu_x**2
    var_y = gaussian_filter(y * y, sigma, axes) - mu_y**2
    cov = gaussian_filter(x * y, sigma, axes) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.reshape(index.shape[0], -1).mean(1).cpu().numpy()
