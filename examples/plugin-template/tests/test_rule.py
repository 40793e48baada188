"""The template's rule equals its formula, and its composite attributes a CNN through relscope."""

from __future__ import annotations

import torch
from relscope_plugin_template.rules import PositiveInputEpsilon
from torch import nn

from relscope.core import attribute
from relscope.core.attribution.composite import LayerMapComposite
from relscope.core.registry import get_registry


def test_rule_matches_the_formula_on_a_linear_layer() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(5, 3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    out_relevance = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():  # the formula, written out: R_in = x⁺ ∘ Wᵀ (R / s(W x⁺ + b))
        x_pos = x.clamp(min=0)
        z = x_pos @ layer.weight.T + layer.bias
        s = z + 1e-6 * torch.where(z >= 0, 1.0, -1.0)
        expected = x_pos * ((out_relevance / s) @ layer.weight)
    assert get_registry("rules").lookup("positive_input_epsilon") is PositiveInputEpsilon
    composite = LayerMapComposite([(nn.Linear, "positive_input_epsilon")])  # by registry name
    relevance = attribute(nn.Sequential(layer), x, target=out_relevance, composite=composite)
    torch.testing.assert_close(relevance, expected, rtol=1e-10, atol=1e-12)


def test_composite_conserves_relevance_on_a_bias_free_cnn() -> None:
    torch.manual_seed(1)
    model = (
        nn.Sequential(
            nn.Conv2d(1, 4, 3, bias=False),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 6 * 6, 3, bias=False),
        )
        .double()
        .eval()
    )
    images = torch.rand(
        2, 1, 8, 8, dtype=torch.float64
    )  # non-negative, so x⁺ = x and the rule is LRP-ε
    target = torch.eye(3, dtype=torch.float64)[[0, 2]]
    relevance = attribute(model, images, target=target, composite="epsilon_positive_input")
    assert relevance.shape == images.shape
    torch.testing.assert_close(
        relevance.sum(dim=(1, 2, 3)),
        torch.ones(2, dtype=torch.float64),
        rtol=0,
        atol=1e-4,  # ε = 1e-6 effects
    )
