"""Rules for element-wise and normalising layers against their formulas (docs/lrp-rules.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import LayerMapComposite, Sum
from relscope.core.errors import RuleConfigurationError
from relscope.core.registry import get_registry
from tests.attribution_support import float64_single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("float64_single_thread")


def rule(name: str, **params):
    return get_registry("rules").lookup(name)(**params)


def relevance_through(layer: nn.Module, the_rule, x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    composite = LayerMapComposite([(type(layer), the_rule)], canonizers=[])
    with composite.context(layer):
        leaf = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(layer(leaf), leaf, grad_outputs=R)
    return grad


def test_pass_returns_the_output_relevance_unchanged() -> None:
    torch.manual_seed(0)
    x, R = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    for layer in (nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.BatchNorm1d(4).eval()):
        got = relevance_through(layer, rule("pass"), x, R)
        assert torch.equal(got, R), type(layer).__name__


def test_pass_on_a_shape_changing_layer_fails_clearly() -> None:
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(RuleConfigurationError, match="element-wise layer.*MaxPool2d"):
        relevance_through(nn.MaxPool2d(2), rule("pass"), x, torch.ones(2, 3, 2, 2))


def test_guided_backprop_deconvnet_and_beta_smooth_formulas() -> None:
    torch.manual_seed(1)
    x, R = torch.randn(4, 7), torch.randn(4, 7)
    guided = relevance_through(nn.ReLU(), rule("guided_backprop"), x, R)
    torch.testing.assert_close(guided, (x > 0).double() * R * (R > 0).double(), rtol=0, atol=0)
    deconv = relevance_through(nn.ReLU(), rule("deconvnet"), x, R)
    torch.testing.assert_close(deconv, R.clamp(min=0), rtol=0, atol=0)
    smooth = relevance_through(nn.ReLU(), rule("beta_smooth"), x, R)
    torch.testing.assert_close(smooth, torch.sigmoid(10.0 * x) * R, rtol=0, atol=1e-15)
    smooth2 = relevance_through(nn.ReLU(), rule("beta_smooth", beta=2.0), x, R)
    torch.testing.assert_close(smooth2, torch.sigmoid(2.0 * x) * R, rtol=0, atol=1e-15)
    # β-smooth is the gradient of softplus(β x)/β
    leaf = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(
        nn.functional.softplus(leaf, beta=10.0, threshold=1e9), leaf, grad_outputs=R
    )
    torch.testing.assert_close(smooth, g, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.AvgPool2d(2), (2, 3, 4, 6)),
        (nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 5, 5)),
        (nn.AdaptiveAvgPool2d((2, 3)), (2, 2, 5, 7)),
        (nn.AvgPool1d(2), (2, 3, 6)),
        (nn.AdaptiveAvgPool3d(1), (2, 2, 3, 3, 3)),
    ],
    ids=["avg2", "avg3s2p1", "adaptive2d", "avg1d", "adaptive3d"],
)
def test_norm_on_average_pooling_matches_the_matrix_form(layer: nn.Module, shape: tuple) -> None:
    torch.manual_seed(2)
    x = torch.randn(shape)
    per_sample = x[0].numel()
    with torch.no_grad():
        basis = torch.eye(per_sample).view(per_sample, *shape[1:])
        W1 = layer(basis).reshape(per_sample, -1).T  # (out, in) per sample
    R = torch.randn_like(layer(x))
    got = relevance_through(layer, rule("norm"), x, R)
    for n in range(shape[0]):
        xv, Rv = x[n].reshape(-1), R[n].reshape(-1)
        z = W1 @ xv
        expected = xv * (W1.T @ (Rv / (z + 1e-6 * torch.where(z >= 0, 1.0, -1.0))))
        torch.testing.assert_close(got[n].reshape(-1), expected, rtol=0, atol=1e-10)


def test_norm_on_sum_splits_in_proportion_to_the_summands() -> None:
    torch.manual_seed(3)
    a, b = torch.rand(2, 3, 4) + 0.1, torch.randn(2, 3, 4)
    stacked = torch.stack([a, b], dim=-1)
    assert torch.equal(Sum()(stacked), a + b)
    R = torch.randn(2, 3, 4)
    got = relevance_through(Sum(), rule("norm", stabilizer=0.0), stacked, R)
    z = a + b
    torch.testing.assert_close(got[..., 0], a / z * R, rtol=0, atol=1e-12)
    torch.testing.assert_close(got[..., 1], b / z * R, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.sum(-1), R, rtol=0, atol=1e-12)


def test_max_pooling_keeps_its_gradient_in_the_lrp_composites() -> None:
    from relscope.core.attribution import get_composite

    layer = nn.Sequential(nn.MaxPool2d(2))
    mapping = get_composite("epsilon_plus").mapping(layer)
    assert mapping == {}
