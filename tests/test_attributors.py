"""SmoothGrad, integrated gradients and occlusion: degeneracies, closed forms, hand computations."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from relscope.core.attribution import Gradient, attribute, get_attributor, get_composite
from relscope.core.errors import AttributionError
from relscope.plugins.attributors.integrated_gradients import IntegratedGradients
from relscope.plugins.attributors.occlusion import Occlusion
from relscope.plugins.attributors.smoothgrad import SmoothGrad


def relu_net(seed: int = 0) -> nn.Module:
    """A small bias-free ReLU CNN for 3x8x8 inputs with 4 outputs."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 4, bias=False),
    ).eval()


class Quadratic(nn.Module):
    """``f(x) = sum_i c_i x_i^2`` per sample: gradient ``2 c x``, known in closed form."""

    def __init__(self, coefficients: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("c", coefficients)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.c * x**2).flatten(1).sum(1, keepdim=True)


# -- SmoothGrad ---------------------------------------------------------------------------------------
def test_smoothgrad_with_one_noise_free_iteration_is_the_gradient() -> None:
    model = relu_net()
    x = torch.randn(2, 3, 8, 8)
    _, expected = Gradient(model)(x, 2)
    output, relevance = SmoothGrad(model, noise_level=0.0, n_iter=1)(x, 2)
    assert torch.equal(relevance, expected)
    assert torch.equal(output, model(x).detach())


def test_smoothgrad_of_a_linear_model_is_its_gradient_whatever_the_noise() -> None:
    torch.manual_seed(1)
    model = nn.Linear(10, 3).eval()
    x = torch.randn(4, 10)
    relevance = attribute(model, x, target=1, attributor="smoothgrad", noise_level=0.5, n_iter=5)
    assert torch.allclose(relevance, model.weight[1].detach().expand(4, 10), atol=1e-6)


def test_smoothgrad_noise_is_scaled_by_each_samples_range() -> None:
    """For f = sum x^2 / 2 the gradient is x + noise: SmoothGrad - x is the mean noise, whose
    spread is noise_level * range / sqrt(n_iter) for each sample separately."""
    model = Quadratic(torch.full((1, 50), 0.5))
    x = torch.stack([torch.linspace(0, 1, 50), torch.linspace(-50, 50, 50)])  # ranges 1 and 100
    n_iter = 100
    _, relevance = SmoothGrad(model, noise_level=0.1, n_iter=n_iter, seed=0)(x, torch.ones(2, 1))
    spread = (relevance - x).std(dim=1)
    expected = 0.1 * torch.tensor([1.0, 100.0]) / n_iter**0.5
    assert torch.allclose(spread, expected, rtol=0.25), (spread, expected)


def test_smoothgrad_seed_makes_it_reproducible() -> None:
    model = relu_net()
    x = torch.randn(1, 3, 8, 8)
    first = SmoothGrad(model, n_iter=3, seed=7)(x, 0)[1]
    again = SmoothGrad(model, n_iter=3, seed=7)(x, 0)[1]
    other = SmoothGrad(model, n_iter=3, seed=8)(x, 0)[1]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_smoothgrad_over_lrp_runs_the_composite() -> None:
    """Each noisy pass is an epsilon_plus LRP pass: the average conserves the output relevance
    (a bias-free ReLU network), and equals the mean of LRP at the same noisy inputs."""
    model = relu_net(3)
    x = torch.randn(2, 3, 8, 8)
    composite = get_composite("epsilon_plus")
    _, relevance = SmoothGrad(model, composite, noise_level=0.2, n_iter=4, seed=5)(x, 1)
    assert torch.allclose(relevance.flatten(1).sum(1), torch.ones(2), atol=1e-4)
    _, plain = SmoothGrad(model, None, noise_level=0.2, n_iter=4, seed=5)(x, 1)
    assert not torch.allclose(plain.flatten(1).sum(1), torch.ones(2), atol=1e-2)

    generator = torch.Generator().manual_seed(5)
    span = (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).reshape(2, 1, 1, 1)
    lrp = Gradient(model, composite)
    expected = torch.zeros_like(x)
    for _ in range(4):
        noise = torch.randn(x.shape, generator=generator) * 0.2 * span
        expected += lrp(x + noise, 1)[1] / 4
    assert torch.allclose(relevance, expected, atol=1e-6)


# -- integrated gradients ------------------------------------------------------------------------------
def test_integrated_gradients_with_one_step_from_zero_is_gradient_times_input() -> None:
    model = relu_net(4)
    x = torch.randn(2, 3, 8, 8)
    _, grad = Gradient(model)(x, 3)
    _, relevance = IntegratedGradients(model, n_steps=1)(x, 3)
    assert torch.equal(relevance, grad * x)


def test_integrated_gradients_matches_the_riemann_sum_of_a_quadratic() -> None:
    """f = sum c x^2, baseline b: grad at b + a (x - b) is 2 c (b + a (x - b)), a = k/n."""
    torch.manual_seed(5)
    c = torch.rand(1, 6) + 0.5
    model = Quadratic(c)
    x, b = torch.randn(3, 6), torch.randn(1, 6)
    n = 20
    alphas = torch.arange(1, n + 1) / n
    mean_grad = sum(2 * c * (b + a * (x - b)) for a in alphas) / n
    expected = (x - b) * mean_grad  # = (x - b) * 2c (b + (x - b) (n + 1) / 2n)
    _, relevance = IntegratedGradients(model, baseline=b)(x, torch.ones(3, 1))
    assert torch.allclose(relevance, expected, atol=1e-5)
    assert torch.allclose(expected, (x - b) * 2 * c * (b + (x - b) * (n + 1) / (2 * n)), atol=1e-5)


def test_integrated_gradients_is_complete_for_a_linear_model() -> None:
    torch.manual_seed(6)
    model = nn.Linear(5, 2).eval()
    x = torch.randn(4, 5)
    relevance = attribute(model, x, target=0, attributor="integrated_gradients", baseline=1.5)
    with torch.no_grad():
        drop = model(x)[:, 0] - model(torch.full_like(x, 1.5))[:, 0]
    assert torch.allclose(relevance.sum(1), drop, atol=1e-5)


def test_integrated_gradients_rejects_a_baseline_of_the_wrong_shape() -> None:
    with pytest.raises(AttributionError, match=r"baseline of shape \(3,\) does not broadcast"):
        IntegratedGradients(nn.Linear(5, 1), baseline=torch.zeros(3))(torch.randn(2, 5), 0)


# -- occlusion -----------------------------------------------------------------------------------------
def hand_occlusion(model: nn.Module, x: torch.Tensor, target: int, window: int, fill: float):
    """Disjoint window x window squares over all channels, one occluded copy at a time."""
    relevance = torch.zeros_like(x)
    _, _, height, width = x.shape
    with torch.no_grad():
        clean = model(x)[:, target]
        for top, left in itertools.product(range(0, height, window), range(0, width, window)):
            copy = x.clone()
            copy[:, :, top : top + window, left : left + window] = fill
            drop = clean - model(copy)[:, target]
            size = x.shape[1] * window * window
            relevance[:, :, top : top + window, left : left + window] = (drop / size).reshape(
                -1, 1, 1, 1
            )
    return relevance


@pytest.mark.parametrize("batch_size", [1, 5, 1000])
def test_occlusion_with_disjoint_windows_matches_a_hand_computation(batch_size: int) -> None:
    model = relu_net(7)
    x = torch.randn(2, 3, 8, 8)
    expected = hand_occlusion(model, x, target=1, window=4, fill=0.5)
    output, relevance = Occlusion(model, window=4, fill=0.5, batch_size=batch_size)(x, 1)
    assert torch.allclose(relevance, expected, atol=1e-6)
    assert torch.equal(output, model(x).detach())


def test_occlusion_of_a_linear_model_in_closed_form() -> None:
    """f = a . x: a window's drop is sum_{i in w} a_i (x_i - fill), spread over its values."""
    torch.manual_seed(8)
    model = nn.Linear(12, 1, bias=False)
    x = torch.randn(3, 12)
    a = model.weight.detach()[0]
    relevance = attribute(model, x, target=0, attributor="occlusion", window=3, fill=-1.0)
    expected = ((a * (x + 1.0)).reshape(3, 4, 3).sum(2, keepdim=True) / 3).expand(3, 4, 3)
    assert torch.allclose(relevance, expected.reshape(3, 12), atol=1e-6)


def test_overlapping_windows_spread_every_drop_and_cover_the_edges() -> None:
    model = relu_net(9)
    x = torch.randn(1, 3, 8, 8)
    occlusion = Occlusion(model, window=(3, 3), stride=2)
    windows = occlusion.windows(x.shape)
    starts = sorted({(w[1].start, w[2].start) for w in windows})
    assert [s for s, _ in starts[::4]] == [0, 2, 4, 5]  # the last window sits flush with the edge
    _, relevance = occlusion(x, 2)
    with torch.no_grad():
        clean = model(x)[0, 2]
        total = 0.0
        for window in windows:
            copy = x.clone()
            copy[(slice(None), *window)] = 0.0
            total += clean - model(copy)[0, 2]
    assert torch.allclose(relevance.sum(), total, atol=1e-5)


def test_occlusion_takes_no_composite_and_checks_its_parameters() -> None:
    model = relu_net()
    with pytest.raises(AttributionError, match="takes no composite"):
        Occlusion(model, composite=get_composite("epsilon_plus"))
    with pytest.raises(AttributionError, match="window must be an int >= 1"):
        Occlusion(model, window=0)
    with pytest.raises(AttributionError, match=r"window \(2, 2, 2, 2\) does not fit"):
        Occlusion(model, window=(2, 2, 2, 2))(torch.randn(1, 3, 8, 8), 0)


def test_attributors_are_registered_and_check_their_parameters() -> None:
    model = relu_net()
    assert isinstance(get_attributor("smoothgrad", model=model), SmoothGrad)
    assert isinstance(get_attributor("integrated_gradients", model=model), IntegratedGradients)
    assert isinstance(get_attributor("occlusion", model=model), Occlusion)
    with pytest.raises(AttributionError, match="n_iter must be an int >= 1"):
        SmoothGrad(model, n_iter=0)
    with pytest.raises(AttributionError, match="noise_level must be a finite number >= 0"):
        SmoothGrad(model, noise_level=-0.1)
    with pytest.raises(AttributionError, match="n_steps must be an int >= 1"):
        IntegratedGradients(model, n_steps=0)
