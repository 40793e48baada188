"""Every LRP rule for linear layers against an independent float64 matrix-form replica.

The replica builds each layer's explicit matrix W (its Jacobian) and bias vector b, then applies
the formulas of docs/lrp-rules.md with plain matrix arithmetic; the engine's result must agree to
1e-10 of the result's scale, for Linear, Conv1/2/3d and ConvTranspose1/2/3d with various kernels,
strides, paddings, dilations and groups, with and without bias, and for inputs of either sign.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from relscope.core.attribution import LayerMapComposite, Linear
from relscope.core.registry import get_registry
from tests.attribution_support import float64_single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("float64_single_thread")


LAYERS: dict[str, tuple[Callable[[bool], nn.Module], tuple[int, ...]]] = {
    "linear": (lambda bias: nn.Linear(7, 5, bias=bias), (2, 7)),
    "linear_3d_input": (lambda bias: nn.Linear(4, 3, bias=bias), (2, 3, 4)),
    "conv1d_stride2_pad1": (
        lambda bias: nn.Conv1d(3, 4, 3, stride=2, padding=1, bias=bias),
        (2, 3, 9),
    ),
    "conv2d_k3_pad1": (lambda bias: nn.Conv2d(2, 3, 3, padding=1, bias=bias), (2, 2, 5, 5)),
    "conv2d_rect_dilated_groups": (
        lambda bias: nn.Conv2d(
            4, 6, (2, 3), stride=(2, 1), padding=(0, 1), dilation=(1, 2), groups=2, bias=bias
        ),
        (2, 4, 6, 6),
    ),
    "conv2d_same_even_kernel": (
        lambda bias: nn.Conv2d(2, 2, 4, padding="same", bias=bias),
        (2, 2, 5, 5),
    ),
    "conv3d_k2_pad1": (lambda bias: nn.Conv3d(2, 2, 2, padding=1, bias=bias), (2, 2, 3, 3, 3)),
    "convtranspose1d_outpad": (
        lambda bias: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
        (2, 3, 4),
    ),
    "convtranspose2d_groups": (
        lambda bias: nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, groups=2, bias=bias),
        (2, 4, 3, 3),
    ),
    "convtranspose2d_dilated": (
        lambda bias: nn.ConvTranspose2d(
            2, 3, (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), bias=bias
        ),
        (2, 2, 3, 3),
    ),
    "convtranspose3d_stride2": (
        lambda bias: nn.ConvTranspose3d(2, 3, 2, stride=2, bias=bias),
        (2, 2, 2, 2, 2),
    ),
}


def make_layer(name: str, bias: bool) -> tuple[nn.Module, tuple[int, ...]]:
    """A seeded float64 layer and its input shape."""
    factory, shape = LAYERS[name]
    torch.manual_seed(sum(map(ord, name)) + bias)
    layer = factory(bias).double()
    if bias:  # biases of both signs and of the weights' size
        with torch.no_grad():
            layer.bias.copy_(torch.randn_like(layer.bias) * 0.5)
    return layer, shape


def explicit(layer: nn.Module, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer as z = W x + b on the flattened batch: columns of W are the responses to unit
    inputs (minus b = f(0)); samples do not interact, so W is block diagonal over the batch."""
    per_sample = int(torch.tensor(shape[1:]).prod())
    with torch.no_grad():
        b1 = layer(torch.zeros(1, *shape[1:])).reshape(-1)
        basis = torch.eye(per_sample).view(per_sample, *shape[1:])
        W1 = (layer(basis).reshape(per_sample, -1) - b1).T
    batch = shape[0]
    return torch.block_diag(*[W1] * batch), b1.repeat(batch)


def s(z: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The stabiliser of the spec: z + eps * sign0(z), sign0(0) = +1."""
    return z + eps * torch.where(z >= 0, 1.0, -1.0)


def pos(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(min=0)


def neg(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(max=0)


# -- the replicas, written from docs/lrp-rules.md ------------------------------------------------
def replica_epsilon(W, b, x, R, eps=1e-6, **_):
    z = W @ x + b
    return x * (W.T @ (R / s(z, eps)))


def replica_zplus(W, b, x, R, **_):
    z = pos(W) @ pos(x) + neg(W) @ neg(x) + pos(b)
    g = R / s(z)
    return pos(x) * (pos(W).T @ g) + neg(x) * (neg(W).T @ g)


def replica_alpha_beta(W, b, x, R, alpha=2.0, beta=1.0, **_):
    zp = pos(W) @ pos(x) + neg(W) @ neg(x) + pos(b)
    zn = neg(W) @ pos(x) + pos(W) @ neg(x) + neg(b)
    gp, gn = R / s(zp), R / s(zn)
    return alpha * (pos(x) * (pos(W).T @ gp) + neg(x) * (neg(W).T @ gp)) - beta * (
        pos(x) * (neg(W).T @ gn) + neg(x) * (pos(W).T @ gn)
    )


def replica_gamma(W, b, x, R, gamma=0.25, **_):
    Wu, Wd = W + gamma * pos(W), W + gamma * neg(W)
    bu, bd = b + gamma * pos(b), b + gamma * neg(b)
    zu = Wu @ pos(x) + Wd @ neg(x) + bu
    zd = Wd @ pos(x) + Wu @ neg(x) + bd
    z = W @ x + b
    gu = torch.where(z > 0, R / s(zu), torch.zeros_like(R))
    gd = torch.where(z < 0, R / s(zd), torch.zeros_like(R))
    return pos(x) * (Wu.T @ gu) + neg(x) * (Wd.T @ gu) + pos(x) * (Wd.T @ gd) + neg(x) * (Wu.T @ gd)


def replica_zbox(W, b, x, R, low=None, high=None, **_):
    d = W @ x - pos(W) @ low - neg(W) @ high
    g = R / s(d)
    return x * (W.T @ g) - low * (pos(W).T @ g) - high * (neg(W).T @ g)


def replica_flat(W, b, x, R, **_):
    W1 = (W != 0).to(W.dtype)  # every connection weighs one
    z = W1 @ torch.ones_like(x)
    return W1.T @ (R / s(z))


def replica_wsquare(W, b, x, R, **_):
    W2 = W * W
    z = W2 @ torch.ones_like(x) + b * b
    return W2.T @ (R / s(z))


def replica_excitation(W, b, x, R, **_):
    return replica_zplus(W, torch.zeros_like(b), x, R)


def bounds_for(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel bounds (1, C, 1, ...) for convolutions, scalars for dense layers."""
    if len(shape) >= 3 and len(shape) != 3 or len(shape) == 3 and shape[-1] != 4:
        channels = shape[1]
        view = (1, channels, *([1] * (len(shape) - 2)))
        low = -1.5 - torch.arange(channels, dtype=torch.float64).view(view) * 0.25
        return low, -low + 0.5
    return torch.tensor(-2.0), torch.tensor(2.5)


# rule id -> (registry name, params, replica, replica params)
RULES = {
    "epsilon": ("epsilon", {}, replica_epsilon, {}),
    "epsilon_0.1": ("epsilon", {"epsilon": 0.1}, replica_epsilon, {"eps": 0.1}),
    "epsilon_0": ("epsilon", {"epsilon": 0.0}, replica_epsilon, {"eps": 0.0}),
    "zplus": ("zplus", {}, replica_zplus, {}),
    "alpha2_beta1": ("alpha_beta", {}, replica_alpha_beta, {}),
    "alpha1_beta0": (
        "alpha_beta",
        {"alpha": 1, "beta": 0},
        replica_alpha_beta,
        {"alpha": 1.0, "beta": 0.0},
    ),
    "alpha3_beta2": (
        "alpha_beta",
        {"alpha": 3, "beta": 2},
        replica_alpha_beta,
        {"alpha": 3.0, "beta": 2.0},
    ),
    "gamma": ("gamma", {}, replica_gamma, {}),
    "gamma_1": ("gamma", {"gamma": 1.0}, replica_gamma, {"gamma": 1.0}),
    "zbox": ("zbox", None, replica_zbox, None),
    "flat": ("flat", {}, replica_flat, {}),
    "wsquare": ("wsquare", {}, replica_wsquare, {}),
    "excitation_backprop": ("excitation_backprop", {}, replica_excitation, {}),
}


def engine(layer: nn.Module, rule, x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    composite = LayerMapComposite([(Linear, rule)], canonizers=[])
    with composite.context(layer):
        leaf = x.clone().requires_grad_(True)
        out = layer(leaf)
        (grad,) = torch.autograd.grad(out, leaf, grad_outputs=R)
    return grad


def check(layer_name: str, bias: bool, rule_id: str, sign: str) -> None:
    layer, shape = make_layer(layer_name, bias)
    W, b = explicit(layer, shape)
    torch.manual_seed(7)
    x = torch.randn(shape)
    if sign == "nonneg":
        x = x.abs() * (x.abs() > 0.3)  # zeros included, as after a ReLU
    elif sign == "nonpos":
        x = -x.abs()
    R = torch.randn(b.shape[0])
    name, params, replica, replica_params = RULES[rule_id]
    if params is None:  # bounds
        low, high = bounds_for(shape)
        params = {"low": low, "high": high}
        replica_params = {
            "low": torch.broadcast_to(low, shape).reshape(-1),
            "high": torch.broadcast_to(high, shape).reshape(-1),
        }
    rule = get_registry("rules").lookup(name)(**params)
    expected = replica(W, b, x.reshape(-1), R, **replica_params)
    got = engine(layer, rule, x, R.view(layer(x).shape)).reshape(-1)
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10 * scale)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("layer_name", list(LAYERS))
@pytest.mark.parametrize("rule_id", list(RULES))
def test_rule_matches_matrix_replica(rule_id: str, layer_name: str, bias: bool) -> None:
    check(layer_name, bias, rule_id, "mixed")


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("sign", ["nonneg", "nonpos"])
@pytest.mark.parametrize("layer_name", list(LAYERS))
@pytest.mark.parametrize("rule_id", ["zplus", "alpha2_beta1", "gamma", "excitation_backprop"])
def test_sign_split_rules_with_one_signed_inputs(rule_id: str, layer_name: str, sign: str) -> None:
    """Inputs of one sign take the skip path (x⁻ or x⁺ identically zero) and still agree."""
    check(layer_name, True, rule_id, sign)


def test_zero_params_bias_removes_the_bias_from_denominators() -> None:
    layer, shape = make_layer("conv2d_k3_pad1", True)
    W, b = explicit(layer, shape)
    torch.manual_seed(3)
    x, R = torch.randn(shape), torch.randn(b.shape[0])
    rule = get_registry("rules").lookup("zplus")(zero_params=("bias",))
    got = engine(layer, rule, x, R.view(layer(x).shape)).reshape(-1)
    expected = replica_zplus(W, torch.zeros_like(b), x.reshape(-1), R)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10 * expected.abs().max().item())
    # and the bias did matter: with it the result differs
    with_bias = replica_zplus(W, b, x.reshape(-1), R)
    assert (with_bias - expected).abs().max() > 1e-3


def test_gamma_is_the_classic_rule_for_nonnegative_inputs_and_positive_outputs() -> None:
    """For x ≥ 0 and z > 0 the generalised γ is x ∘ (W+γW⁺)ᵀ (R / s((W+γW⁺)x + b + γb⁺))."""
    torch.manual_seed(11)
    layer = nn.Linear(6, 4).double()
    with torch.no_grad():
        layer.bias.fill_(2.0)  # all outputs positive for the inputs below
    x = torch.rand(3, 6)
    assert (layer(x) > 0).all()
    R = torch.randn(3, 4)
    rule = get_registry("rules").lookup("gamma")(gamma=0.5)
    got = engine(layer, rule, x, R)
    Wu = layer.weight + 0.5 * layer.weight.clamp(min=0)
    bu = layer.bias + 0.5 * layer.bias.clamp(min=0)
    expected = x * ((R / s(x @ Wu.T + bu)) @ Wu)
    torch.testing.assert_close(got, expected.detach(), rtol=0, atol=1e-12)


def test_custom_padding_mode_folds_padding_relevance_back() -> None:
    """Reflect padding copies pixels; relevance of the copies returns to them (ε conserves)."""
    torch.manual_seed(5)
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", bias=False).double()
    x = torch.randn(2, 2, 5, 5)
    out = layer(x)
    R = torch.randn_like(out)
    got = engine(layer, get_registry("rules").lookup("epsilon")(epsilon=0.0), x, R)
    # ε = 0 on a bias-free layer: input relevance sums to the output relevance
    torch.testing.assert_close(got.sum(), R.sum(), rtol=0, atol=1e-9)
    # and equals the input times the gradient of <out, R / out>
    leaf = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(layer(leaf), leaf, grad_outputs=R / out.detach())
    torch.testing.assert_close(got, x * g, rtol=0, atol=1e-10)
