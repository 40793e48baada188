"""Conservation: bias-free ReLU networks keep the total relevance, layer by layer and end to end;
LRP-0 equals gradient × input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import (
    Activation,
    AvgPool,
    Gradient,
    LayerMapComposite,
    Linear,
    attribute,
    get_composite,
)
from relscope.core.registry import get_registry
from tests.attribution_support import (  # noqa: F401  (fixture)
    bias_free_cnn,
    float64_single_thread,
    grad_of,
)

pytestmark = pytest.mark.usefixtures("float64_single_thread")

CONSERVING = {  # ε → 0: the stabiliser only guards against exact zeros
    "epsilon": {"epsilon": 1e-12},
    "zplus": {"stabilizer": 1e-12},
    "alpha_beta": {"alpha": 2.0, "beta": 1.0, "stabilizer": 1e-12},
    "flat": {"stabilizer": 1e-12},
    "wsquare": {"stabilizer": 1e-12},
}


def rule(name: str, **params):
    return get_registry("rules").lookup(name)(**params)


@pytest.mark.parametrize("name", list(CONSERVING))
def test_whole_bias_free_relu_network_conserves_relevance(name: str) -> None:
    # flat and w² spread relevance onto inactive units too; average pooling (norm rule) of
    # all-zero inputs would drop it, so they get a network with a strided convolution instead
    model = bias_free_cnn(seed=4, pool=name not in ("flat", "wsquare"))
    composite = LayerMapComposite(
        [
            (Linear, rule(name, **CONSERVING[name])),
            (Activation, rule("pass")),
            (AvgPool, rule("norm", stabilizer=1e-12)),
        ],
        canonizers=[],
    )
    torch.manual_seed(5)
    x = torch.randn(3, 3, 8, 8)
    target = [0, 2, 3]
    out, relevance = Gradient(model, composite)(x, target)
    per_sample = relevance.sum(dim=(1, 2, 3))
    torch.testing.assert_close(per_sample, torch.ones(3), rtol=0, atol=1e-6)
    # a real redistribution, not a copy of the gradient
    _, grad = grad_of(model, x, torch.eye(4)[target])
    assert (relevance - grad).abs().max() > 1e-3


@pytest.mark.parametrize("name", list(CONSERVING))
@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: nn.Linear(16, 6), (4, 16)),
        (lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1), (2, 3, 7, 7)),
        (lambda: nn.ConvTranspose2d(16, 2, 3, stride=2, padding=1), (2, 16, 4, 4)),
    ],
    ids=["linear", "conv2d", "convtranspose2d"],
)
def test_single_layer_conserves_with_zeroed_bias(name: str, layer, shape: tuple) -> None:
    """(Many contributions per output, so z⁺ and z⁻ are never empty.)"""
    torch.manual_seed(6)
    layer = layer()
    with torch.no_grad():
        layer.bias.uniform_(1.0, 2.0)  # a large bias that would absorb relevance if used
    x = torch.randn(shape)
    R = torch.randn_like(layer(x))
    params = dict(CONSERVING[name], zero_params=("bias",))
    composite = LayerMapComposite([(Linear, rule(name, **params))], canonizers=[])
    with composite.context(layer):
        leaf = x.clone().requires_grad_(True)
        (got,) = torch.autograd.grad(layer(leaf), leaf, grad_outputs=R)
    torch.testing.assert_close(got.sum(), R.sum(), rtol=0, atol=1e-6)


def test_epsilon_with_bias_leaks_relevance_into_the_bias() -> None:
    """Without zero_params the bias takes its share: the sum is R · (z − b) / z."""
    torch.manual_seed(7)
    layer = nn.Linear(5, 3).double()
    x = torch.randn(2, 5)
    R = torch.randn(2, 3)
    composite = LayerMapComposite([(Linear, rule("epsilon", epsilon=0.0))], canonizers=[])
    with composite.context(layer):
        leaf = x.clone().requires_grad_(True)
        z = layer(leaf)
        (got,) = torch.autograd.grad(z, leaf, grad_outputs=R)
    expected = (R * (z - layer.bias) / z).sum(1)
    torch.testing.assert_close(got.sum(1), expected.detach(), rtol=0, atol=1e-10)


def test_lrp0_equals_gradient_times_input_on_bias_free_relu_network() -> None:
    model = bias_free_cnn(seed=8)
    composite = LayerMapComposite(
        [
            (Linear, rule("epsilon", epsilon=0.0)),
            (Activation, rule("pass")),
            (AvgPool, rule("norm", stabilizer=0.0)),
        ],
        canonizers=[],
    )
    torch.manual_seed(9)
    x = torch.randn(2, 3, 8, 8)
    one_hot = torch.eye(4)[[1, 3]]
    # LRP starts from the target score itself (output relevance = output at the target)
    relevance = attribute(model, x, target=lambda out: out * one_hot, composite=composite)
    _, grad = grad_of(model, x, one_hot)
    torch.testing.assert_close(relevance, x * grad, rtol=0, atol=1e-10)


def test_convergence_delta_is_zero_for_a_conserving_composite() -> None:
    model = bias_free_cnn(seed=10)
    torch.manual_seed(11)
    x = torch.randn(4, 3, 8, 8)
    composite = get_composite("epsilon_plus", epsilon=1e-12, stabilizer=1e-12)
    relevance, delta = attribute(
        model, x, target=2, composite=composite, return_convergence_delta=True
    )
    assert delta.shape == (4,)
    torch.testing.assert_close(delta, torch.zeros(4), rtol=0, atol=1e-8)
    # the default ε = 1e-6 absorbs a little relevance: delta is small but not zero
    _, delta_default = attribute(
        model, x, target=2, composite="epsilon_plus", return_convergence_delta=True
    )
    assert 0 < delta_default.abs().max() < 1e-2
    torch.testing.assert_close(relevance.sum(dim=(1, 2, 3)), 1.0 - delta, rtol=0, atol=1e-12)
