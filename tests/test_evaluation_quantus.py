"""Parity with Quantus's PixelFlipping (skipped when quantus is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from relscope.core.evaluation import pixel_flipping
from relscope.plugins.demo.model import SmallCNN

quantus = pytest.importorskip("quantus")


@pytest.mark.parametrize("step", [16, 64])
def test_curves_equal_quantus_pixel_flipping(step: int) -> None:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 32, 32, generator=generator)
    a = torch.randn(6, 1, 32, 32, generator=generator)  # continuous: no ties to break
    y = np.array([0, 1, 2, 3, 4, 5])
    metric = quantus.PixelFlipping(
        features_in_step=step, perturb_baseline=0.0, normalise=False, disable_warnings=True
    )
    theirs = np.asarray(
        metric(
            model=model, x_batch=x.numpy(), y_batch=y, a_batch=a.numpy(), softmax=False,
            device="cpu",
        )
    )  # fmt: skip
    ours = pixel_flipping(model, x, a, torch.from_numpy(y), step=step, baseline=0.0)
    assert theirs.shape == (6, 1024 // step)
    np.testing.assert_allclose(ours[:, 1:].numpy(), theirs, rtol=0, atol=1e-5)
