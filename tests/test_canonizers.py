"""Canonizer machinery: batch-norm merging, attribute and composite canonizers, exact restoration."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relscope.core.attribution import LayerMapComposite
from relscope.core.attribution.attribute_canonizer import AttributeCanonizer
from relscope.core.attribution.canonizer_chain import CompositeCanonizer
from relscope.core.errors import CanonizerError
from relscope.core.registry import get_registry
from relscope.plugins.canonizers.batchnorm import MergeBatchNorm
from relscope.plugins.canonizers.graph import GraphCanonizer
from tests.canonizer_support import assert_restored, randomize_batchnorm, snapshot


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Equal up to ``tol`` relative to the larger magnitude."""
    return bool((a - b).abs().max() <= tol * max(a.abs().max(), b.abs().max(), 1e-12))


def bn_for(layer: nn.Module, n: int) -> nn.Module:
    dims = {nn.Linear: 1, nn.Conv1d: 1, nn.ConvTranspose1d: 1, nn.Conv3d: 3, nn.ConvTranspose3d: 3}
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims.get(type(layer), 2)](n)


LAYERS = {
    "linear": (lambda bias: nn.Linear(6, 4, bias=bias), (5, 6)),
    "conv1d": (lambda bias: nn.Conv1d(4, 6, 3, padding=1, groups=2, bias=bias), (2, 4, 9)),
    "conv2d": (lambda bias: nn.Conv2d(4, 6, 3, padding=1, stride=2, bias=bias), (2, 4, 7, 7)),
    "conv3d": (lambda bias: nn.Conv3d(2, 4, 2, bias=bias), (2, 2, 4, 4, 4)),
    "convtranspose1d": (lambda bias: nn.ConvTranspose1d(4, 6, 3, groups=2, bias=bias), (2, 4, 5)),
    "convtranspose2d": (
        lambda bias: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, bias=bias),
        (2, 4, 5, 5),
    ),
    "convtranspose3d": (lambda bias: nn.ConvTranspose3d(2, 4, 2, bias=bias), (2, 2, 3, 3, 3)),
}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_batchnorm_after_a_linear_layer_merges_exactly(kind: str, bias: bool) -> None:
    torch.manual_seed(0)
    make, shape = LAYERS[kind]
    layer = make(bias)
    out_channels = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    model = randomize_batchnorm(nn.Sequential(layer, bn_for(layer, out_channels))).eval()
    x = torch.randn(*shape)
    before = snapshot(model, x)

    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert canonizer.merged == [("1", "0", "after")]
        assert layer.bias is not None  # created when missing
        with torch.no_grad():
            assert close(model(x), before["output"])
            y = torch.randn(*layer(x).shape) * 100
            assert torch.equal(model[1](y), y)  # the batch norm is an exact identity now
        if not bias:
            assert "0.bias" in model.state_dict()
    finally:
        canonizer.remove()
    assert_restored(model, before)
    assert (layer.bias is None) == (not bias)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_batchnorm_before_a_linear_layer_merges_exactly(kind: str) -> None:
    torch.manual_seed(1)
    if kind == "linear":
        model = nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 3))
        x = torch.randn(4, 6)
    else:  # unpadded, grouped: the shift becomes part of the bias
        model = nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 6, 3, groups=2, bias=False))
        x = torch.randn(2, 4, 6, 6)
    randomize_batchnorm(model.eval())
    before = snapshot(model, x)
    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert canonizer.merged == [("0", "1", "before")]
        with torch.no_grad():
            assert close(model(x), before["output"])
    finally:
        canonizer.remove()
    assert_restored(model, before)


def test_batchnorm_that_cannot_be_merged_is_left_alone_with_a_reason() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.BatchNorm2d(3),  # before a zero-padded convolution: the shift cannot move across
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(4),  # after a ReLU, before nothing linear
    )
    randomize_batchnorm(model.eval())
    x = torch.randn(2, 3, 5, 5)
    before = snapshot(model, x)
    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert canonizer.merged == []
        assert "pads with zeros" in canonizer.unmerged["0"]
        assert "not next to a linear layer" in canonizer.unmerged["3"]
        with torch.no_grad():
            assert torch.equal(model(x), before["output"])
    finally:
        canonizer.remove()
    assert_restored(model, before)


class DefinedOutOfOrder(nn.Module):
    """Definition order pairs conv_a with bn_b; at run time bn_a follows conv_a."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(3, 8, 3)
        self.bn_b = nn.BatchNorm2d(8)
        self.conv_b = nn.Conv2d(8, 8, 3)
        self.bn_a = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn_a(self.conv_a(x)))
        x = self.bn_b(self.conv_b(x))
        return self.head(x.mean((2, 3)))


def test_batchnorm_pairs_follow_the_run_order_not_the_definition_order() -> None:
    torch.manual_seed(3)
    model = randomize_batchnorm(DefinedOutOfOrder().eval(), seed=3)
    x = torch.randn(2, 3, 9, 9)
    before = snapshot(model, x)
    bn = model.bn_a
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    expected_weight = model.conv_a.weight.detach() * scale[:, None, None, None]

    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert sorted(canonizer.merged) == [
            ("bn_a", "conv_a", "after"),
            ("bn_b", "conv_b", "after"),
        ]
        assert close(model.conv_a.weight.detach(), expected_weight, 1e-6)
        with torch.no_grad():
            assert close(model(x), before["output"])
    finally:
        canonizer.remove()
    assert_restored(model, before)


@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.1, 0.5, 1.0, 3.0])
def test_merged_batchnorm_is_an_exact_identity_for_any_eps(eps: float) -> None:
    torch.manual_seed(4)
    model = randomize_batchnorm(nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3, eps=eps)))
    model.eval()
    canonizer = MergeBatchNorm()
    canonizer.register(model)
    try:
        assert model[1].eps == eps  # torch refuses eps = 0: eps is never touched
        y = torch.randn(4, 3, 5, 5) * torch.logspace(-6, 6, 5)
        with torch.no_grad():
            assert torch.equal(model[1](y), y)
    finally:
        canonizer.remove()


def test_batchnorm_in_training_mode_is_not_merged() -> None:
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)).train()
    before = snapshot(model)
    canonizer = MergeBatchNorm()
    canonizer.register(model)
    assert canonizer.merged == [] and "training mode" in canonizer.unmerged["1"]
    canonizer.remove()
    assert_restored(model, before)


def test_model_is_restored_after_an_exception_inside_a_composite_context() -> None:
    torch.manual_seed(5)
    model = randomize_batchnorm(DefinedOutOfOrder().eval())
    x = torch.randn(2, 3, 9, 9)
    before = snapshot(model, x)
    composite = LayerMapComposite(
        [(nn.Conv2d, "zplus"), (nn.Linear, "epsilon")],
        canonizers=[CompositeCanonizer([MergeBatchNorm(), GraphCanonizer()])],
    )
    with pytest.raises(RuntimeError, match="inside the context"):
        with composite.context(model):
            assert "forward" in model.__dict__  # the graph canonizer replaced it
            model(x).sum().backward()
            raise RuntimeError("failure inside the context")
    model.zero_grad(set_to_none=True)
    assert_restored(model, before)


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace this forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return F.relu(self.conv(x))
        return self.conv(x)


def test_failed_registration_leaves_the_model_untouched() -> None:
    torch.manual_seed(6)
    model = randomize_batchnorm(
        nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3), Untraceable()).eval()
    )
    x = torch.randn(1, 3, 6, 6)
    before = snapshot(model, x)
    merge = MergeBatchNorm()
    composite = CompositeCanonizer([merge, GraphCanonizer()])
    with pytest.raises(CanonizerError, match=r"graph canonizer: 2: cannot trace .*Untraceable"):
        composite.register(model)
    assert merge.merged == [("1", "0", "after")]  # the first part had run, and was undone
    assert not composite.registered
    assert_restored(model, before)


def test_attribute_canonizer_overrides_instance_attributes_and_restores_them() -> None:
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 2, bias=False))
    model[1].note = "original"
    before = snapshot(model)

    def attribute_map(name: str, module: nn.Module) -> dict | None:
        if isinstance(module, nn.Linear):
            doubled = types.MethodType(lambda self, x: 2 * type(self).forward(self, x), module)
            return {"forward": doubled, "note": "changed", "probe": nn.Identity()}
        return None

    x = torch.randn(4, 3)
    with torch.no_grad():
        plain = model(x)
    canonizer = AttributeCanonizer(attribute_map)
    canonizer.register(model)
    try:
        with torch.no_grad():
            assert torch.equal(model(x), 4 * plain)  # both layers doubled (exact: powers of 2)
        assert model[1].note == "changed" and isinstance(model[0].probe, nn.Identity)
    finally:
        canonizer.remove()
    assert model[1].note == "original" and not hasattr(model[0], "probe")
    assert_restored(model, before)


def test_composite_canonizer_removes_in_reverse_order() -> None:
    """Two canonizers override the same attribute; only reverse-order removal restores it."""
    model = nn.Linear(2, 2)
    first = AttributeCanonizer(lambda name, m: {"tag": "first"} if name == "" else None)
    second = AttributeCanonizer(lambda name, m: {"tag": "second"} if name == "" else None)
    composite = CompositeCanonizer([first, second])
    composite.register(model)
    assert model.tag == "second"
    composite.remove()
    assert "tag" not in model.__dict__
    fresh = composite.copy()
    assert fresh.canonizers[0] is not first and not fresh.registered


def test_canonizers_are_registered_by_name() -> None:
    registry = get_registry("canonizers")
    for name in ("merge_batchnorm", "graph", "resnet", "vgg", "cnn", "convnext"):
        canonizer = registry.lookup(name)()
        assert canonizer.name == name
