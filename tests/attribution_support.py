"""Shared pieces of the attribution tests: small seeded models and the thread/dtype fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One torch thread (small ops stall with more on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def float64_single_thread() -> Iterator[None]:
    """float64 by default and one thread (small ops stall with more on a shared machine)."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


def grad_of(
    model: nn.Module, x: torch.Tensor, relevance: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, d<output, relevance>/dx) by plain autograd."""
    leaf = x.clone().requires_grad_(True)
    out = model(leaf)
    (grad,) = torch.autograd.grad(out, leaf, grad_outputs=relevance)
    return out.detach(), grad


def bias_free_cnn(seed: int = 0, inplace: bool = False, pool: bool = True) -> nn.Module:
    """A small bias-free ReLU network for 3x8x8 inputs: convolutions, pooling, dense layers.

    Wide enough that every output has positive and negative contributions (α-β conserves only
    then). ``pool=False`` has a strided convolution instead of the average pooling.
    """
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),
        nn.ReLU(inplace=inplace),
        nn.AvgPool2d(2) if pool else nn.Conv2d(16, 16, 2, stride=2, bias=False),
        nn.Flatten(),
        nn.Linear(64, 32, bias=False),
        nn.ReLU(inplace=inplace),
        nn.Linear(32, 4, bias=False),
    ).eval()


def small_cnn(seed: int = 0, inplace: bool = True) -> nn.Module:
    """A small ReLU network with biases, batch norm, max pooling and dropout."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(32, 12),
        nn.ReLU(inplace=inplace),
        nn.Linear(12, 5),
    )
    with torch.no_grad():  # non-trivial batch-norm statistics
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 1.5)
    return model.eval()


#: float32 machine epsilon
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


def assert_float32_paths_close(actual, expected, ulps: int = 800) -> None:
    """Two float32 computations of the same values by different paths (other batching, kernels,
    summation orders). Each op may round differently by ~eps; LRP divides by stabilised sums that
    amplify such differences (a 3.2e-5 relative gap was measured between batchings). So allow
    ``ulps`` epsilons (800: ~1e-4) relative to each value and, for values that cancel to near
    zero, relative to the largest magnitude. Not looser: a wrong rule or row is off by far more."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    tolerance = ulps * FLOAT32_EPS
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)
