"""The shortcuts the rules take on residual networks give the values of the general path.

Each shortcut is compared with the form it replaces, computed here from the definitions:
one-pass ε for outputs that are non-negative by construction, γ's signed denominators, block
weights written in place by the modifiers, residual sums stacked on a new first axis, and merged
batch norms that return their input.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relscope.core.attribution import LayerMapComposite, Sum, get_composite
from relscope.core.attribution.canonizer import exact_identity
from relscope.core.attribution.stabilizer import Stabilizer
from relscope.core.registry import get_registry
from relscope.plugins.canonizers.batchnorm import MergeBatchNorm
from relscope.plugins.rules.lrp import AlphaBeta, Gamma, ZBox, ZPlus
from tests.attribution_support import single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


def reference_stabilizer(z: torch.Tensor, eps: float) -> torch.Tensor:
    """``z + ε·sign₀(z)`` with sign₀(±0) = +1, from the definition."""
    return torch.where(z < 0, z - eps, z + eps)


def test_one_pass_epsilon_on_non_negative_outputs_equals_the_general_stabiliser() -> None:
    torch.manual_seed(0)
    z = torch.rand(1000) * torch.randint(0, 2, (1000,)).float()  # many exact zeros
    z[:3] = torch.tensor([0.0, -0.0, 1e-30])
    for stabilizer in (
        Stabilizer(1e-6),
        Stabilizer(1e-3, clip=True),
        Stabilizer(1e-6, rms_scaled=True),
    ):
        expected = stabilizer.stabilize_(z.clone())
        got = stabilizer.stabilize_nonnegative_(z.clone())
        assert torch.equal(got, expected), stabilizer
        assert not torch.signbit(got[1])  # -0.0 becomes +ε, as sign₀(-0.0) = +1
    torch.testing.assert_close(
        Stabilizer(1e-6).stabilize_nonnegative_(z.clone()), reference_stabilizer(z, 1e-6)
    )


def test_signed_gamma_denominator_matches_the_masked_form() -> None:
    torch.manual_seed(1)
    output = torch.randn(4000)
    output[:50] = 0.0
    up = output + torch.rand(4000)  # z↑ >= z
    down = output - torch.rand(4000)  # z↓ <= z
    up[60:70] = -1e-9  # rounding can leave z↑ slightly below a tiny positive z
    output[60:70] = 1e-12
    eps = 1e-6
    chosen = torch.where(output > 0, up, down)
    # the general form: s(chosen) out of place, the sign of z, ∞ where z = 0
    general = Stabilizer(eps)(chosen).abs().copysign(output)
    general[output == 0] = math.inf
    got = Stabilizer(eps).signed_magnitude_(chosen.clone(), output)
    assert torch.equal(got.abs(), general.abs())
    nonzero = output != 0
    assert torch.equal(torch.sign(got[nonzero]), torch.sign(output[nonzero]))
    assert torch.isinf(got[output == 0]).all()
    rule = Gamma(gamma=0.25)
    (kept,) = rule.keep_outputs([up.clone(), down.clone()], output)
    assert torch.equal(kept, got)


@pytest.mark.parametrize(
    "layer", [nn.Conv2d(5, 7, 3), nn.Conv1d(4, 6, 2, bias=False), nn.Linear(5, 7)]
)
@pytest.mark.parametrize("make_rule", [lambda: Gamma(0.3), AlphaBeta, ZPlus, lambda: ZBox(-1, 1)])
def test_block_weights_written_in_place_equal_the_stacked_modified_weights(
    layer: nn.Module, make_rule
) -> None:
    rule = make_rule()
    rule.setup(layer)
    terms = range(len(rule.input_modifiers))
    for active in {(0,), tuple(terms)} if len(terms) > 1 else {(0,)}:
        with torch.no_grad():
            rows = [
                [row[i](layer.weight, "weight") for i in active] for row in rule.param_modifiers
            ]
            expected = rule.op.block_weight(rows)
            block, _ = rule.modified_parameters(active)
        assert torch.equal(block, expected), (type(rule).__name__, active)


def test_grouped_convolutions_keep_the_stacking_path() -> None:
    layer = nn.Conv2d(4, 6, 3, groups=2)
    rule = Gamma(0.25)
    rule.setup(layer)
    assert rule.op.block_views(layer.weight, 2, 1) is None
    with torch.no_grad():
        up, down = (
            m(layer.weight, "weight")
            for m in (rule.param_modifiers[0][0], rule.param_modifiers[1][0])
        )
        block, _ = rule.modified_parameters((0,))
    # output channels ordered (layer group, output group, channel)
    assert torch.equal(block[0:3], up[0:3]) and torch.equal(block[3:6], down[0:3])
    assert torch.equal(block[6:9], up[3:6]) and torch.equal(block[9:12], down[3:6])


def test_norm_on_a_sum_over_the_first_axis_splits_in_proportion_to_the_summands() -> None:
    torch.manual_seed(3)
    a, b = torch.rand(2, 3, 4, dtype=torch.float64) + 0.1, torch.randn(2, 3, 4, dtype=torch.float64)
    stacked = torch.stack([a, b])
    layer = Sum(dim=0)
    assert torch.equal(layer(stacked), a + b)
    R = torch.randn(2, 3, 4, dtype=torch.float64)
    norm = get_registry("rules").lookup("norm")(stabilizer=1e-6)
    composite = LayerMapComposite([(Sum, norm)], canonizers=[])
    with composite.context(layer):
        leaf = stacked.clone().requires_grad_(True)
        (got,) = torch.autograd.grad(layer(leaf), leaf, grad_outputs=R)
    z = a + b
    s = z + 1e-6 * torch.where(z >= 0, 1.0, -1.0).double()
    torch.testing.assert_close(got[0], a * R / s, rtol=1e-12, atol=0)
    torch.testing.assert_close(got[1], b * R / s, rtol=1e-12, atol=0)


def test_merged_batch_norm_returns_its_input_and_gets_its_forward_back() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True)).eval()
    model[1].running_mean.uniform_(-1, 1)
    model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert model[1].forward is exact_identity
        y = torch.randn(2, 4, 6, 6)
        assert model[1](y) is y
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference, rtol=1e-5, atol=1e-6)
    finally:
        canonizer.remove()
    assert "forward" not in model[1].__dict__
    assert model[1](y) is not y


def test_lrp_on_a_merged_batch_norm_with_an_inplace_relu_equals_the_unmerged_model() -> None:
    torch.manual_seed(5)
    merged = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(144, 3),
    ).eval()
    merged[1].running_mean.uniform_(-1, 1)
    merged[1].running_var.uniform_(0.5, 2)
    folded = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)
    ).eval()  # the same network with the batch norm folded by hand
    with torch.no_grad():
        bn = merged[1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded[0].weight.copy_(merged[0].weight * scale.view(-1, 1, 1, 1))
        folded[0].bias.copy_((merged[0].bias - bn.running_mean) * scale + bn.bias)
        folded[3].load_state_dict(merged[4].state_dict())
    x = torch.randn(2, 3, 8, 8)
    composite = get_composite("epsilon_plus", canonizers=[MergeBatchNorm()])
    from relscope.core.attribution import attribute

    got = attribute(merged, x, target=1, composite=composite)
    expected = attribute(
        folded, x, target=1, composite=get_composite("epsilon_plus", canonizers=[])
    )
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
