"""The shortcut forms of γ (non-negative inputs), flat, z^B and sums of separate summands
against the forms they replace.

Each shortcut is compared in float64 with the general stacked form of the same rule (the
rule's own ``LinearRule`` passes) and with the formula written out here as matrix arithmetic,
on layers with strides, padding and dilation, with and without bias.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import (
    LayerMapComposite,
    Sum,
    flat_counts,
    nonnegative_gamma,
    zbox_bounds,
)
from relscope.core.attribution.layer_types import Linear
from relscope.core.attribution.linear_rule import LinearRule
from relscope.core.attribution.modifiers import sign_bounds
from relscope.core.attribution.stabilizer import Stabilizer
from relscope.core.errors import RuleConfigurationError
from relscope.plugins.rules.activation_rules import Pass
from relscope.plugins.rules.lrp import Flat, Gamma, ZBox, ZPlus
from relscope.plugins.rules.norm_rules import Norm
from tests.attribution_support import float64_single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("float64_single_thread")


class GeneralGamma(Gamma):
    """γ by the general stacked form only (the form the shortcut replaces)."""

    forward = LinearRule.forward
    backward = LinearRule.backward


class GeneralFlat(Flat):
    """Flat by the general stacked form only."""

    forward = LinearRule.forward
    backward = LinearRule.backward


class GeneralZBox(ZBox):
    """z^B by the general stacked form only."""

    forward = LinearRule.forward
    backward = LinearRule.backward


LAYERS = {
    "conv2d_stride2_pad1": (lambda bias: nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias), (3, 3, 7, 7)),
    "conv2d_dilated_rect": (
        lambda bias: nn.Conv2d(2, 4, (3, 2), padding=(2, 1), dilation=(2, 1), bias=bias),
        (2, 2, 6, 5),
    ),
    "conv1d_k1": (lambda bias: nn.Conv1d(4, 6, 1, bias=bias), (2, 4, 5)),
    "linear": (lambda bias: nn.Linear(6, 4, bias=bias), (3, 6)),
    "linear_3d_input": (lambda bias: nn.Linear(5, 3, bias=bias), (2, 4, 5)),
}  # fmt: skip


def make_layer(name: str, bias: bool) -> tuple[nn.Module, tuple[int, ...]]:
    factory, shape = LAYERS[name]
    torch.manual_seed(sum(map(ord, name)) + bias)
    layer = factory(bias).double()
    if bias:
        with torch.no_grad():
            layer.bias.copy_(torch.randn_like(layer.bias) * 0.5)
    return layer, shape


def relevance(layer: nn.Module, rule, x: torch.Tensor, R: torch.Tensor):
    """(output, relevance at the input) of ``layer`` under ``rule``."""
    composite = LayerMapComposite([(Linear, rule)], canonizers=[])
    with composite.context(layer):
        leaf = x.clone().requires_grad_(True)
        out = layer(leaf)
        (grad,) = torch.autograd.grad(out, leaf, grad_outputs=R)
    return out.detach(), grad


def assert_close_scaled(got: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-11 * scale)


# -- γ on non-negative inputs ------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [0.25, 1.0])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_gamma_on_nonnegative_inputs_equals_the_general_form(
    name: str, bias: bool, gamma: float
) -> None:
    layer, shape = make_layer(name, bias)
    torch.manual_seed(1)
    x = torch.randn(shape)
    x = x.abs() * (x.abs() > 0.4)  # zeros included, as after a ReLU
    rule = Gamma(gamma)
    rule.setup(layer)
    assert nonnegative_gamma.applies(rule, sign_bounds(x), True)
    R = torch.randn_like(layer(x))
    out, got = relevance(layer, Gamma(gamma), x, R)
    assert torch.equal(out, layer(x))  # the layer's own output, not one derived from z↑, z↓
    _, expected = relevance(layer, GeneralGamma(gamma), x, R)
    assert_close_scaled(got, expected)


def test_gamma_on_nonnegative_inputs_matches_the_formula_and_passes_nothing_at_zero_outputs():
    torch.manual_seed(2)
    layer = nn.Linear(6, 4).double()
    with torch.no_grad():
        layer.bias[0] = 0.0
    x = torch.rand(3, 6)
    x[1] = 0.0  # z = b for sample 1: output 0 is exactly zero
    gamma = 0.5
    W, b = layer.weight.detach(), layer.bias.detach()
    z = x @ W.T + b
    assert z[1, 0] == 0 and (z[0] != 0).all()
    R = torch.randn(3, 4)
    _, got = relevance(layer, Gamma(gamma), x, R)
    Wu, Wd = W + gamma * W.clamp(min=0), W + gamma * W.clamp(max=0)
    zu, zd = x @ Wu.T + b + gamma * b.clamp(min=0), x @ Wd.T + b + gamma * b.clamp(max=0)
    gu = torch.where(z > 0, R / (zu + 1e-6), 0.0)
    gd = torch.where(z < 0, R / (zd - 1e-6), 0.0)
    expected = x * (gu @ Wu + gd @ Wd)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # relevance arriving only at the zero output reaches nothing
    only_zero = torch.zeros(3, 4)
    only_zero[1, 0] = 1.0
    _, nothing = relevance(layer, Gamma(gamma), x, only_zero)
    assert torch.equal(nothing, torch.zeros_like(x))


def test_gamma_takes_the_general_form_where_the_shortcut_does_not_hold() -> None:
    layer = nn.Conv2d(2, 3, 3).double()
    rule = Gamma(0.25)
    rule.setup(layer)
    assert not nonnegative_gamma.applies(rule, (-1e-30, 1.0), True)  # one negative value
    assert not nonnegative_gamma.applies(rule, (0.0, 1.0), False)  # own forward
    zero = Gamma(0.0)
    zero.setup(layer)
    assert not nonnegative_gamma.applies(zero, (0.0, 1.0), True)
    unbiased = Gamma(0.25, zero_params=("bias",))
    unbiased.setup(layer)
    assert not nonnegative_gamma.applies(unbiased, (0.0, 1.0), True)
    grouped = Gamma(0.25)
    grouped.setup(nn.Conv2d(4, 4, 3, groups=2))
    assert not nonnegative_gamma.applies(grouped, (0.0, 1.0), True)
    # and mixed-sign inputs still give the general form's values
    torch.manual_seed(3)
    x = torch.randn(2, 2, 5, 5)
    R = torch.randn_like(layer(x))
    _, got = relevance(layer, Gamma(0.25), x, R)
    _, expected = relevance(layer, GeneralGamma(0.25), x, R)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


# -- flat --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_flat_counts_equal_the_general_form(name: str, bias: bool) -> None:
    layer, shape = make_layer(name, bias)
    torch.manual_seed(4)
    x = torch.randn(shape)
    rule = Flat()
    rule.setup(layer)
    assert flat_counts.applies(rule)
    R = torch.randn_like(layer(x))
    out, got = relevance(layer, Flat(), x, R)
    assert torch.equal(out, layer(x))
    _, expected = relevance(layer, GeneralFlat(), x, R)
    assert_close_scaled(got, expected)
    assert got.is_contiguous()
    # all of R arrives (flat puts nothing into biases), and for convolutions every input
    # channel of a sample receives the same map
    torch.testing.assert_close(got.sum(), R.sum(), rtol=1e-5, atol=0)
    if "conv" in name:
        assert torch.equal(got, got[:, :1].expand_as(got))


def test_flat_counts_are_the_receptive_field_sizes_by_hand() -> None:
    layer = nn.Conv1d(2, 3, 3, padding=1).double()  # fields at the ends are cut by the padding
    x = torch.randn(1, 2, 4)
    R = torch.zeros(1, 3, 4)
    R[0, 1, 0] = 1.0  # first output position: 2 channels x 2 valid taps = 4 inputs
    R[0, 2, 2] = 6.0  # interior position: 2 x 3 = 6 inputs
    _, got = relevance(layer, Flat(stabilizer=0.0), x, R)
    expected = torch.zeros(1, 2, 4)
    expected[0, :, 0:2] += 1.0 / 4
    expected[0, :, 1:4] += 6.0 / 6
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)


def test_flat_keeps_the_general_form_for_grouped_and_transposed_layers() -> None:
    for layer in (nn.Conv2d(4, 4, 3, groups=2), nn.ConvTranspose2d(2, 3, 3)):
        rule = Flat()
        rule.setup(layer)
        assert not flat_counts.applies(rule)


# -- z^B with bounds shared by the samples -----------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_zbox_with_shared_bounds_equals_the_general_form(name: str, bias: bool) -> None:
    layer, shape = make_layer(name, bias)
    torch.manual_seed(5)
    channel_shape = (1, shape[1], *([1] * (len(shape) - 2))) if "conv" in name else shape[-1:]
    low = -1.0 - torch.rand(channel_shape, dtype=torch.float64)
    high = 1.0 + torch.rand(channel_shape, dtype=torch.float64)
    x = low + (high - low) * torch.rand(shape)
    for lo, hi in ((low, high), (-2.0, 2.5)):
        rule = ZBox(lo, hi)
        rule.setup(layer)
        assert zbox_bounds.applies(rule, x, True)
        R = torch.randn_like(layer(x))
        out, got = relevance(layer, ZBox(lo, hi), x, R)
        assert torch.equal(out, layer(x))
        _, expected = relevance(layer, GeneralZBox(lo, hi), x, R)
        assert_close_scaled(got, expected)


def test_zbox_matches_the_formula_on_a_dense_layer() -> None:
    torch.manual_seed(6)
    layer = nn.Linear(5, 3).double()
    low, high = -torch.rand(5) - 0.5, torch.rand(5) + 0.5
    x = low + (high - low) * torch.rand(4, 5)
    R = torch.randn(4, 3)
    _, got = relevance(layer, ZBox(low, high), x, R)
    W = layer.weight.detach()
    Wp, Wn = W.clamp(min=0), W.clamp(max=0)
    d = x @ W.T - low @ Wp.T - high @ Wn.T
    g = R / (d + 1e-6 * torch.where(d >= 0, 1.0, -1.0))
    expected = x * (g @ W) - low * (g @ Wp) - high * (g @ Wn)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_zbox_with_per_sample_bounds_takes_the_general_form() -> None:
    layer = nn.Conv2d(2, 3, 3).double()
    x = torch.rand(2, 2, 5, 5)
    low, high = torch.full((2, 2, 5, 5), -1.0), torch.full((2, 2, 5, 5), 2.0)
    rule = ZBox(low, high)
    rule.setup(layer)
    assert not zbox_bounds.applies(rule, x, True)


# -- sums given their summands one by one -------------------------------------------------------
def norm_relevance(layer: nn.Module, summands: list[torch.Tensor], R: torch.Tensor, rule=None):
    composite = LayerMapComposite([(Sum, rule or Norm(stabilizer=1e-6))], canonizers=[])
    with composite.context(layer):
        leaves = [s.clone().requires_grad_(True) for s in summands]
        out = layer(*leaves)
        grads = torch.autograd.grad(out, leaves, grad_outputs=R)
    return out.detach(), grads


@pytest.mark.parametrize("count", [2, 3])
def test_norm_on_summands_equals_the_stacked_sum_and_the_formula(count: int) -> None:
    torch.manual_seed(7)
    summands = [torch.randn(2, 3, 4, 5) for _ in range(count)]
    summands[0][0, 0, 0, :2] = -summands[1][0, 0, 0, :2]  # exact zero sums (+0.0)
    R = torch.randn(2, 3, 4, 5)
    out, got = norm_relevance(Sum(dim=0), summands, R)
    z = sum(summands[1:], summands[0])
    assert torch.equal(out, z)
    s = z + 1e-6 * torch.where(z >= 0, 1.0, -1.0)
    _, stacked = norm_relevance(Sum(dim=0), [torch.stack(summands)], R)
    for k, summand in enumerate(summands):
        torch.testing.assert_close(got[k], summand * R / s, rtol=1e-13, atol=0)
        torch.testing.assert_close(got[k], stacked[0][k], rtol=1e-13, atol=0)


def test_norm_on_summands_where_only_one_needs_a_gradient() -> None:
    torch.manual_seed(8)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    R = torch.randn(3, 4)
    composite = LayerMapComposite([(Sum, Norm())], canonizers=[])
    layer = Sum()
    with composite.context(layer):
        leaf = a.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(layer(leaf, b), leaf, grad_outputs=R)
    z = a + b
    torch.testing.assert_close(grad, a * R / (z + 1e-6 * torch.where(z >= 0, 1.0, -1.0)))


def test_other_rules_see_summands_stacked_and_unruled_sums_add() -> None:
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    composite = LayerMapComposite([(Sum, Pass())], canonizers=[])
    layer = Sum(dim=0)
    with composite.context(layer):
        leaf = a.clone().requires_grad_(True)
        out = layer(leaf, b)
        with pytest.raises(RuleConfigurationError, match="element-wise"):
            torch.autograd.grad(out, leaf, grad_outputs=torch.ones_like(out))
    leaf = a.clone().requires_grad_(True)
    out = Sum()(leaf, b)
    assert torch.equal(out, a + b)
    (grad,) = torch.autograd.grad(out, leaf, grad_outputs=torch.full_like(out, 2.0))
    assert torch.equal(grad, torch.full_like(a, 2.0))


# -- ε folded into the bias of outputs non-negative by construction ------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_zplus_with_folded_epsilon_equals_the_formula(bias: bool) -> None:
    torch.manual_seed(9)
    layer = nn.Linear(6, 4, bias=bias).double()
    x = torch.randn(3, 6)
    R = torch.randn(3, 4)
    W = layer.weight.detach()
    b = layer.bias.detach().clamp(min=0) if bias else torch.zeros(4)
    Wp, Wn = W.clamp(min=0), W.clamp(max=0)
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    for stabilizer, folded in ((1e-3, True), (Stabilizer(1e-3, clip=True), False)):
        rule = ZPlus(stabilizer=stabilizer)
        rule.setup(layer)
        assert (rule._folded_epsilon() > 0) is folded
        z = xp @ Wp.T + xn @ Wn.T + b
        s = z + 1e-3 if folded else z.clamp(min=1e-3)
        g = R / s
        _, got = relevance(layer, ZPlus(stabilizer=stabilizer), x, R)
        torch.testing.assert_close(got, xp * (g @ Wp) + xn * (g @ Wn), rtol=0, atol=1e-12)
