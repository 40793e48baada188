"""The Canonizer base: its undo records restore objects and values exactly, in reverse order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import Canonizer, Sum


class MergeScale(Canonizer):
    """Folds a following per-channel scale into a Linear layer and swaps the scale for Identity.

    A real (if small) canonizer: the model computes the same function while registered.
    """

    def register(self, model: nn.Module) -> None:
        linear, scale = model.linear, model.scale
        self.set_tensor_data(linear.weight, linear.weight.data * scale.factor[:, None])
        self.set_tensor_data(linear.bias, linear.bias.data * scale.factor)
        self.set_attribute(model, "scale", nn.Identity())
        self.set_attribute(model, "merged", True)


class Scale(nn.Module):
    def __init__(self, factor: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("factor", factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.scale = Scale(torch.tensor([2.0, -1.0, 0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(self.linear(x))


def test_register_rewrites_and_remove_restores_exactly() -> None:
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(5, 4)
    reference = model(x).detach()
    weight, bias, scale = model.linear.weight, model.linear.bias, model.scale
    weight_data = weight.data
    canonizer = MergeScale()
    canonizer.register(model)
    assert canonizer.registered
    assert isinstance(model.scale, nn.Identity) and model.merged is True
    torch.testing.assert_close(model(x), reference)
    canonizer.remove()
    assert not canonizer.registered
    assert model.scale is scale and model.linear.weight is weight and model.linear.bias is bias
    assert weight.data.data_ptr() == weight_data.data_ptr()
    assert "merged" not in model.__dict__ and not hasattr(model, "merged")
    assert torch.equal(model(x), reference)
    canonizer.remove()  # harmless a second time


def test_copy_is_fresh_and_instance_attributes_come_back() -> None:
    model = Net()
    model.note = "original"
    canonizer = MergeScale()
    canonizer.set_attribute(model, "note", "changed")
    clone = canonizer.copy()
    assert not clone.registered and canonizer.registered
    canonizer.remove()
    assert model.note == "original"
    with pytest.raises(NotImplementedError):
        Canonizer().register(model)


def test_remove_keeps_undoing_after_a_failing_undo() -> None:
    model = Net()
    canonizer = Canonizer()
    canonizer.set_attribute(model, "a", 1)

    def broken() -> None:
        raise ValueError("undo failed")

    canonizer.add_undo(broken)
    canonizer.set_attribute(model, "b", 2)
    with pytest.raises(ValueError, match="undo failed"):
        canonizer.remove()
    assert not hasattr(model, "a") and not hasattr(model, "b")


def test_sum_adds_the_stacked_summands() -> None:
    a, b, c = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(Sum()(torch.stack([a, b, c], dim=-1)), a + b + c)
