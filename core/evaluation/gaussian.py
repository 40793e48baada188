"""A separable Gaussian filter over the last one or two axes (blur baselines, SSIM windows)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def gaussian_filter(values: torch.Tensor, sigma: float, axes: int) -> torch.Tensor:
    """Blur the last ``axes`` (1 or 2) axes of ``values`` with reflected edges."""
    kernel = gaussian_kernel(sigma, values.dtype, values.device)
    shape = values.shape
    out = values.reshape(-1, 1, *shape[len(shape) - axes :])
    for axis in range(axes):
        size = out.shape[2 + axis]
        pad = min(kernel.numel() // 2, size - 1)
        weights = kernel[kernel.numel() // 2 - pad : kernel.numel() // 2 + pad + 1]
        weights = weights / weights.sum()
        if axes == 1:
            out = F.conv1d(F.pad(out, (pad, pad), mode="reflect"), weights.view(1, 1, -1))
        elif axis == 0:
            padded = F.pad(out, (0, 0, pad, pad), mode="reflect")
            out = F.conv2d(padded, weights.view(1, 1, -1, 1))
        else:
            padded = F.pad(out, (pad, pad, 0, 0), mode="reflect")
            out = F.conv2d(padded, weights.view(1, 1, 1, -1))
    return out.reshape(shape)
