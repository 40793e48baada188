"""The stabiliser's forms, and new rules written from modifiers, mapper and reducer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import LayerMapComposite, Linear, LinearRule, Stabilizer
from relscope.core.attribution.modifiers import (
    WeightOnly,
    identity,
    negative,
    negative_part,
    positive,
    positive_part,
)
from relscope.core.registry import get_registry
from tests.attribution_support import float64_single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("float64_single_thread")


def relevance(layer: nn.Module, rule, x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    with LayerMapComposite([(Linear, rule)], canonizers=[]).context(layer):
        leaf = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(layer(leaf), leaf, grad_outputs=R)
    return grad


def test_stabilizer_forms() -> None:
    z = torch.tensor([[-2.0, -1e-9, -0.0, 0.0, 1e-9, 3.0]])
    plain = Stabilizer(0.1)(z)
    expected = torch.tensor([[-2.1, -0.1 - 1e-9, 0.1, 0.1, 0.1 + 1e-9, 3.1]])
    torch.testing.assert_close(plain, expected, rtol=0, atol=1e-15)
    in_place = z.clone()
    assert Stabilizer(0.1).stabilize_(in_place) is not None
    torch.testing.assert_close(in_place, expected, rtol=1e-15, atol=1e-16)
    clipped = Stabilizer(0.1, clip=True)(z)
    torch.testing.assert_close(
        clipped, torch.tensor([[-2.0, -0.1, 0.1, 0.1, 0.1, 3.0]]), rtol=0, atol=0
    )
    batch = torch.tensor([[3.0, -4.0], [0.3, 0.4]])  # per-sample RMS: sqrt(12.5), sqrt(0.125)
    scaled = Stabilizer(0.1, rms_scaled=True)(batch)
    rms = torch.tensor([[12.5**0.5], [0.125**0.5]])
    torch.testing.assert_close(scaled, batch + 0.1 * rms * torch.sign(batch), rtol=0, atol=1e-15)
    zero = Stabilizer(0.0)(torch.tensor([0.0, 2.0, -1.0]))
    assert zero.tolist() == [float("inf"), 2.0, -1.0]  # R / s(0) = 0, not NaN
    with pytest.raises(Exception, match="epsilon must be a float >= 0"):
        Stabilizer(-1.0)


def test_rules_take_a_float_or_any_callable_stabilizer() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    x, R = torch.randn(3, 6), torch.randn(3, 4)
    z = layer(x).detach()
    epsilon = get_registry("rules").lookup("epsilon")

    def doubled(v: torch.Tensor) -> torch.Tensor:
        return 2.0 * v

    got = relevance(layer, epsilon(epsilon=doubled), x, R)
    torch.testing.assert_close(got, x * ((R / (2 * z)) @ layer.weight).detach(), rtol=0, atol=1e-12)
    rms = relevance(layer, epsilon(epsilon=Stabilizer(0.5, rms_scaled=True)), x, R)
    scale = z.square().mean(1, keepdim=True).sqrt()
    denominator = z + 0.5 * scale * torch.where(z >= 0, 1.0, -1.0)
    expected = x * ((R / denominator) @ layer.weight).detach()
    torch.testing.assert_close(rms, expected, rtol=0, atol=1e-12)
    zplus = get_registry("rules").lookup("zplus")
    clip = relevance(layer, zplus(stabilizer=Stabilizer(1e-3, clip=True)), x, R)
    assert torch.isfinite(clip).all()


class PositiveOnly(LinearRule):
    """A user's rule in a few lines: only positive contributions, biases ignored, and a mapper
    that halves the relevance (to show a custom mapper is used)."""

    name = "positive_only"

    def __init__(self) -> None:
        super().__init__(
            [positive_part, negative_part],
            [[WeightOnly(positive), WeightOnly(negative)]],
            stabilizer=1e-9,
        )

    def gradient_mapper(self, relevance, kept):
        return [0.5 * relevance / kept[0]]


class SignedSum(LinearRule):
    """Two output groups with a custom reducer: R_in = x ∘ (W⁺ᵀ g⁺ − W⁻ᵀ g⁻)."""

    name = "signed_sum"

    def __init__(self) -> None:
        super().__init__(
            [identity], [[WeightOnly(positive)], [WeightOnly(negative)]], stabilizer=1e-9
        )

    def gradient_mapper(self, relevance, kept):
        return [relevance / kept[0], -relevance / kept[1]]


@pytest.mark.parametrize(
    "layer, shape",
    [(lambda: nn.Linear(5, 4), (3, 5)), (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 4, 4))],
    ids=["linear", "conv2d"],
)
def test_custom_rules_follow_their_formulas(layer, shape) -> None:
    torch.manual_seed(1)
    layer = layer()
    x = torch.randn(shape)
    out = layer(x)
    R = torch.randn_like(out)
    weight = layer.weight.detach()

    def apply(w: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, nn.Linear):
            return inp @ w.T
        return nn.functional.conv2d(inp, w, padding=1)

    def vjp(w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, nn.Linear):
            return g @ w
        return nn.functional.conv_transpose2d(g, w, padding=1)

    wp, wn, xp, xn = weight.clamp(min=0), weight.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    zp = apply(wp, xp) + apply(wn, xn)
    g = 0.5 * R / (zp + 1e-9 * torch.where(zp >= 0, 1.0, -1.0))
    expected = xp * vjp(wp, g) + xn * vjp(wn, g)
    torch.testing.assert_close(relevance(layer, PositiveOnly(), x, R), expected, rtol=0, atol=1e-10)

    z1, z2 = apply(wp, x), apply(wn, x)
    s1 = z1 + 1e-9 * torch.where(z1 >= 0, 1.0, -1.0)
    s2 = z2 + 1e-9 * torch.where(z2 >= 0, 1.0, -1.0)
    expected = x * (vjp(wp, R / s1) - vjp(wn, R / s2))
    torch.testing.assert_close(relevance(layer, SignedSum(), x, R), expected, rtol=0, atol=1e-10)
