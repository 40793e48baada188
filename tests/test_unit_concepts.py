"""Attention heads and MLP neurons as concepts (a toy bias-free transformer, float64, cp_lrp):
the conditional heatmaps of a partition of the units sum to the heatmap of all of them, each
carries its units' relevance (conservation), a replica that detaches every path but the head's
gives the same heatmap, and bad units are one-line errors."""

from __future__ import annotations

import math
import types

import pytest
import torch

from relscope.core.attribution import attribute
from relscope.core.attribution.unit_conditions import unit_attribute, unit_relevance
from relscope.core.errors import AttributionError
from tests.attribution_support import single_thread  # noqa: F401  (fixture)
from tests.test_attention_conservation import toy

pytestmark = pytest.mark.usefixtures("single_thread")

HEADS, HEAD_DIM, NEURONS = 4, 4, 32  # toy(): d = 16, 4 heads; MLP width 2d
TARGET = [0, 2, 4]


@pytest.fixture
def model_and_inputs():
    model = toy(seed=1).double()
    torch.manual_seed(2)
    return model, torch.randn(3, 7, 16, dtype=torch.float64)


@pytest.mark.parametrize(
    ("layer", "unit", "parts"),
    [
        ("blocks.1.out", HEAD_DIM, [[h] for h in range(HEADS)]),  # every head on its own
        ("blocks.0.out", HEAD_DIM, [[0, 3], [1], [2]]),
        ("blocks.0.down", 1, [list(range(s, s + 8)) for s in range(0, NEURONS, 8)]),  # neurons
    ],
)
def test_units_partition_the_heatmap_and_conserve_their_relevance(
    model_and_inputs, layer: str, unit: int, parts: list[list[int]]
) -> None:
    model, x = model_and_inputs
    count = NEURONS if unit == 1 else HEADS
    everything = list(range(count))
    maps = unit_attribute(model, x, layer, unit, [*parts, everything], TARGET, "cp_lrp")
    assert len(maps) == len(parts) + 1 and maps[0].shape == x.shape
    torch.testing.assert_close(sum(maps[:-1]), maps[-1], rtol=0, atol=1e-10)
    relevance = unit_relevance(model, x, layer, unit, target=TARGET, composite="cp_lrp")
    assert relevance.shape == (3, count)
    for part, heat in zip(parts, maps):
        expected = relevance[:, part].sum(1)
        torch.testing.assert_close(heat.sum((1, 2)), expected, rtol=1e-6, atol=1e-9)
        assert heat.abs().sum() > 0
    # the relevance through the layer is a part of the whole heatmap, not all of it (residuals)
    whole = attribute(model, x, target=TARGET, composite="cp_lrp")
    assert (maps[-1] - whole).abs().max() > 1e-3


def _head_only_forward(block, head: int):
    """The toy block's forward with every path into its output detached except head ``head``'s
    (the residual and the other heads carry values but no relevance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        y = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v  # (b, heads, t, head_dim)
        keep = torch.zeros(1, self.heads, 1, 1, dtype=y.dtype)
        keep[0, head] = 1
        y = y * keep + (y * (1 - keep)).detach()
        x = x.detach() + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(self.act(self.gate(x)) * self.up(x))

    return types.MethodType(forward, block)


def test_a_head_condition_equals_a_replica_that_detaches_every_other_path(
    model_and_inputs,
) -> None:
    model, x = model_and_inputs
    ours = unit_attribute(model, x, "blocks.1.out", HEAD_DIM, [[2]], TARGET, "cp_lrp")[0]
    block = model.blocks[1]
    block.forward = _head_only_forward(block, 2)
    try:
        replica = attribute(model, x, target=TARGET, composite="cp_lrp")
    finally:
        del block.forward
    torch.testing.assert_close(ours, replica, rtol=0, atol=1e-12)
    assert not any(m._forward_pre_hooks for m in model.modules())  # our hook is gone


def test_bad_units_are_one_line_errors(model_and_inputs) -> None:
    model, x = model_and_inputs
    with pytest.raises(AttributionError, match=r"layer 'blocks.1.out' has 4 units; unit index 4"):
        unit_attribute(model, x, "blocks.1.out", HEAD_DIM, [[4]])
    with pytest.raises(AttributionError, match=r"does not split into units of 5 features"):
        unit_relevance(model, x, "blocks.1.out", 5)
    with pytest.raises(AttributionError, match=r"at least one condition"):
        unit_attribute(model, x, "blocks.1.out", HEAD_DIM, [])
    with pytest.raises(AttributionError, match=r"unknown layer 'blocks.9.out'"):
        unit_relevance(model, x, "blocks.9.out", 4)
