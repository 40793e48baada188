"""LRP on a torchvision ResNet equals zennit 1.0.0's (a reference tool; skipped without it).

Both tools canonize the model (merged batch norms, explicit residual sums) and attribute the same
random, float64 resnet18 with non-trivial batch-norm statistics; relscope's shortcuts (γ on
non-negative inputs, flat counts, z^B with shared bounds, sums of separate summands) must give
zennit's values.
"""

from __future__ import annotations

import pytest
import torch

from relscope.core.attribution import attribute, get_composite
from relscope.core.model_loading import IMAGENET_MEAN, IMAGENET_STD


@pytest.mark.parametrize("composite", ["epsilon_gamma_box", "epsilon_plus_flat"])
def test_resnet18_matches_zennit(composite: str) -> None:
    zennit_composites = pytest.importorskip("zennit.composites")
    zennit_torchvision = pytest.importorskip("zennit.torchvision")
    zennit_attribution = pytest.importorskip("zennit.attribution")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    model = model.double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    target = [1, 2]
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    low, high = (0 - mean) / std, (1 - mean) / std
    canonizers = [zennit_torchvision.ResNetCanonizer()]
    if composite == "epsilon_gamma_box":
        ours = get_composite(composite, low=low, high=high)
        theirs = zennit_composites.EpsilonGammaBox(low=low, high=high, canonizers=canonizers)
    else:
        ours = get_composite(composite)
        theirs = zennit_composites.EpsilonPlusFlat(canonizers=canonizers)
    got = attribute(model, x, target=target, composite=ours)
    with zennit_attribution.Gradient(model=model, composite=theirs) as attributor:
        _, expected = attributor(x, torch.eye(1000, dtype=torch.float64)[target])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12 * expected.abs().max().item())
