"""The torch.fx graph canonizer: functional operations become modules that rules attach to."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relscope.core.attribution import Gradient, get_composite
from relscope.core.attribution.sum_layer import Sum
from relscope.core.errors import CanonizerError
from relscope.plugins.canonizers.graph import Concatenate, GraphCanonizer
from tests.canonizer_support import assert_restored, snapshot


class FunctionalResidualNet(nn.Module):
    """A bias-free ReLU network whose residual additions, activations, pooling, concatenation and
    flattening are all written as functions in ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.side = nn.Conv2d(8, 4, 1, bias=False)
        self.head = nn.Linear(12 * 2 * 2, 5, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = F.relu(x + self.conv1(x))  # residual
        y = self.conv2(x)
        y += x  # in-place residual
        y = y.relu()
        y = F.avg_pool2d(y, 2)
        y = torch.cat([y, F.relu(self.side(y))], dim=1)
        y = F.adaptive_avg_pool2d(y, (2, 2))
        return self.head(torch.flatten(y, 1))


def relevance_sum(model: nn.Module, x: torch.Tensor, canonizers: list) -> torch.Tensor:
    composite = get_composite("epsilon_plus", zero_params=("bias",), canonizers=canonizers)
    _, relevance = Gradient(model, composite)(x, 1)
    return relevance.flatten(1).sum(1)


def test_functional_operations_become_modules_with_identical_outputs() -> None:
    torch.manual_seed(0)
    model = FunctionalResidualNet().eval()
    x = torch.randn(2, 3, 8, 8)
    before = snapshot(model, x)
    canonizer = GraphCanonizer()
    canonizer.register(model)
    try:
        kinds = sorted(canonizer.rewritten["FunctionalResidualNet"])
        assert kinds == sorted(
            [
                "relu",
                "add",
                "relu",
                "add",
                "relu",
                "avg_pool",
                "cat",
                "relu",
                "adaptive_avg_pool",
                "flatten",
            ]
        )
        made = {type(m) for m in model.children()}
        assert {Sum, nn.ReLU, nn.AvgPool2d, Concatenate, nn.AdaptiveAvgPool2d, nn.Flatten} <= made
        assert len([m for m in model.children() if isinstance(m, Sum)]) == 2
        with torch.no_grad():
            assert torch.equal(model(x), before["output"])  # bit for bit
    finally:
        canonizer.remove()
    assert_restored(model, before)


def test_rules_attach_to_the_created_modules_and_relevance_is_conserved() -> None:
    torch.manual_seed(1)
    model = FunctionalResidualNet().eval()
    x = torch.randn(3, 3, 8, 8)
    composite = get_composite("epsilon_plus", canonizers=[GraphCanonizer()])
    with composite.context(model):
        rules = {name: rule.name for name, _, rule in composite.attached()}
    assert rules["sum"] == rules["sum_1"] == "norm"
    assert rules["relu"] == "pass" and rules["avg_pool"] == "norm"
    assert rules["adaptive_avg_pool"] == "norm" and rules["stem"] == "zplus"

    with_canonizer = relevance_sum(model, x, [GraphCanonizer()])
    assert torch.allclose(with_canonizer, torch.ones(3), atol=1e-4)
    # left to the gradient, each residual addition copies the relevance to both summands
    without = relevance_sum(model, x, [])
    assert (without - 1).abs().min() > 0.1


def test_graph_canonizer_restores_after_an_exception_inside_the_context() -> None:
    torch.manual_seed(2)
    model = FunctionalResidualNet().eval()
    x = torch.randn(1, 3, 8, 8)
    before = snapshot(model, x)
    composite = get_composite("epsilon_plus", canonizers=[GraphCanonizer()])
    with pytest.raises(ValueError, match="boom"):
        with composite.context(model):
            model(x)
            raise ValueError("boom")
    assert_restored(model, before)


class ShapeArithmetic(nn.Module):
    """Additions of sizes (ints), of a broadcast parameter, and an in-place functional ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1)
        self.offset = nn.Parameter(torch.randn(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1] + x.shape[-2]  # ints at run time: stays a plain addition
        y = F.relu(self.conv(x) + self.offset, inplace=True)
        return y.reshape(y.shape[0], -1)[:, :width]


def test_non_tensor_additions_stay_plain_and_broadcast_additions_become_sums() -> None:
    torch.manual_seed(3)
    model = ShapeArithmetic().eval()
    x = torch.randn(2, 2, 3, 3)
    before = snapshot(model, x)
    canonizer = GraphCanonizer()
    canonizer.register(model)
    try:
        assert canonizer.rewritten["ShapeArithmetic"].count("add") == 2
        assert model.relu.inplace  # F.relu(..., inplace=True) keeps its in-place flag
        with torch.no_grad():
            assert torch.equal(model(x), before["output"])
    finally:
        canonizer.remove()
    assert_restored(model, before)


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1 if x.sum() > 0 else x


def test_untraceable_forward_is_a_clear_error_and_changes_nothing() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1), DataDependent())
    before = snapshot(model)
    with pytest.raises(
        CanonizerError,
        match=r"graph canonizer: 1: cannot trace the forward of "
        r"DataDependent with torch.fx .*not supported yet",
    ):
        GraphCanonizer().register(model)
    assert_restored(model, before)


def test_unknown_conversion_group_is_rejected() -> None:
    with pytest.raises(CanonizerError, match="unknown conversion 'softmax'; known: add, cat"):
        GraphCanonizer(convert=["softmax"])


def test_selected_conversions_only() -> None:
    torch.manual_seed(4)
    model = FunctionalResidualNet().eval()
    canonizer = GraphCanonizer(convert=["add"])
    canonizer.register(model)
    try:
        assert canonizer.rewritten["FunctionalResidualNet"] == ["add", "add"]
    finally:
        canonizer.remove()
