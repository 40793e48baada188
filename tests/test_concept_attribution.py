"""Conditional (CRP) attribution: exactness against the unconditional pass, a replica, zennit-crp."""

from __future__ import annotations

import pytest
import torch

from relscope.core import attribute, concept_relevance
from relscope.core.attribution import get_composite
from relscope.core.errors import AttributionError
from tests.attribution_support import bias_free_cnn, float64_single_thread  # noqa: F401

LAYER = "2"  # the second convolution of bias_free_cnn: 16 channels, 4x4


def _inputs(n: int = 3) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(n, 3, 8, 8)


def test_channel_heatmaps_sum_to_the_unconditional_one(float64_single_thread) -> None:  # noqa: F811
    model, x, target = bias_free_cnn(), _inputs(), [0, 1, 3]
    full = attribute(model, x, target=target, composite="epsilon_plus_flat")
    parts = attribute(
        model,
        x,
        target=target,
        composite="epsilon_plus_flat",
        conditions=[{LAYER: [c]} for c in range(16)],
    )
    assert len(parts) == 16 and parts[0].shape == x.shape
    assert torch.allclose(torch.stack(parts).sum(0), full, atol=1e-5, rtol=0)
    # conservation: each channel's heatmap carries exactly that channel's concept relevance
    rel = concept_relevance(model, x, target=target, composite="epsilon_plus_flat", layer=LAYER)
    assert rel.shape == (3, 16)
    sums = torch.stack([p.sum((1, 2, 3)) for p in parts], dim=1)
    assert torch.allclose(sums, rel, atol=1e-5, rtol=0)  # the stabiliser (1e-6) leaks a little
    # all channels together carry the output relevance (bias-free network): 1 per sample
    assert torch.allclose(rel.sum(1), torch.ones(3), atol=1e-3)
    # a set of channels is the sum of its members; one dict gives one tensor
    pair = attribute(
        model, x, target=target, composite="epsilon_plus_flat", conditions={LAYER: [2, 5]}
    )
    assert torch.allclose(pair, parts[2] + parts[5], atol=1e-10)


def _replica(model, x, target, layer_index: int, channels: list[int]) -> torch.Tensor:
    """Mask the relevance at the layer's output by hand: two autograd steps inside the composite."""
    composite = get_composite("epsilon_plus_flat")
    with composite.context(model):
        leaf = x.clone().requires_grad_(True)
        hidden = model[: layer_index + 1](leaf)
        out = model[layer_index + 1 :](hidden)
        onehot = torch.nn.functional.one_hot(torch.tensor(target), out.shape[1]).to(out)
        (rel_hidden,) = torch.autograd.grad(out, hidden, grad_outputs=onehot, retain_graph=True)
        mask = torch.zeros_like(rel_hidden)
        mask[:, channels] = 1
        (rel_in,) = torch.autograd.grad(hidden, leaf, grad_outputs=rel_hidden * mask)
    return rel_in, rel_hidden.sum((2, 3))


def test_conditional_heatmap_equals_a_hand_masked_replica(float64_single_thread) -> None:  # noqa: F811
    model, x, target = bias_free_cnn(seed=3, inplace=True), _inputs(), [2, 0, 1]
    for channels in ([4], [0, 7, 11]):
        expected, rel_expected = _replica(model, x, target, 2, channels)
        got = attribute(
            model, x, target=target, composite="epsilon_plus_flat", conditions={LAYER: channels}
        )
        assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    rel = concept_relevance(model, x, target=target, composite="epsilon_plus_flat", layer=LAYER)
    assert torch.allclose(rel, rel_expected, atol=1e-6, rtol=0)


def test_two_layers_mean_the_intersection(float64_single_thread) -> None:  # noqa: F811
    model, x, target = bias_free_cnn(), _inputs(2), [1, 2]
    conds = [{"0": [a], LAYER: [b]} for a in range(8) for b in (3, 9)]
    parts = attribute(model, x, target=target, composite="epsilon_plus_flat", conditions=conds)
    # summing the lower layer's channels gives back the upper-layer-only condition
    for j, b in enumerate((3, 9)):
        total = sum(parts[i] for i in range(j, len(conds), 2))
        only = attribute(
            model, x, target=target, composite="epsilon_plus_flat", conditions={LAYER: [b]}
        )
        assert torch.allclose(total, only, atol=1e-10)
    # relevance at layer 0 restricted to channel 3 of layer 2, read from one pass
    inner = concept_relevance(
        model, x, target=target, composite="epsilon_plus_flat", layer="0", conditions={LAYER: [3]}
    )
    sums = torch.stack([parts[2 * a].sum((1, 2, 3)) for a in range(8)], dim=1)
    assert torch.allclose(inner, sums, atol=1e-8)


def test_bad_conditions_are_one_line_errors() -> None:
    model, x = bias_free_cnn(), _inputs(1)
    with pytest.raises(AttributionError, match=r"unknown layer 'features\.13'.*0, 1, 2"):
        attribute(
            model, x, target=0, composite="epsilon_plus_flat", conditions={"features.13": [1]}
        )
    with pytest.raises(AttributionError, match=r"layer '2' has 16 channels; channel index 16"):
        attribute(model, x, target=0, composite="epsilon_plus_flat", conditions={LAYER: [16]})
    with pytest.raises(AttributionError, match="expected channel indices"):
        attribute(model, x, target=0, composite="epsilon_plus_flat", conditions={LAYER: ["a"]})
    flat = torch.nn.Sequential(
        torch.nn.Flatten(0), torch.nn.Unflatten(0, (1, 192)), torch.nn.Linear(192, 2)
    )
    with pytest.raises(AttributionError, match=r"layer '0'.*not channel-shaped"):
        concept_relevance(flat, x, target=0, layer="0")
    for err in (AttributionError("x"),):
        assert "\n" not in str(err)


def test_zennit_crp_parity_on_vgg11() -> None:
    crp_attribution = pytest.importorskip("crp.attribution")
    crp_concepts = pytest.importorskip("crp.concepts")
    zennit_composites = pytest.importorskip("zennit.composites")
    zennit_torchvision = pytest.importorskip("zennit.torchvision")
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)  # vgg11 pools adaptively; 224² only slows the test
    target, layer, channels = [3, 7], "features.13", [9, 100, 311]
    # one condition per row, rows sample-major: sample i with channel j is row 3 i + j
    conditions = [{"y": [t], layer: [c]} for t in target for c in channels]
    crp = crp_attribution.CondAttribution(model, no_param_grad=True)
    composite = zennit_composites.EpsilonPlusFlat(canonizers=[zennit_torchvision.VGGCanonizer()])
    data = x.repeat_interleave(len(channels), 0).requires_grad_(True)
    ref = crp(data, conditions, composite, record_layer=[layer])

    # zennit-crp starts from the logit of the target (not a one); a callable sees the batch
    # repeated once per condition
    def logit_target(out):
        classes = torch.tensor(target).repeat(out.shape[0] // len(target))
        return torch.nn.functional.one_hot(classes, out.shape[1]).to(out) * out

    ours = attribute(
        model,
        x,
        target=logit_target,
        composite="epsilon_plus_flat",
        conditions=[{layer: [c]} for c in channels],
    )
    ours = torch.stack([h.sum(1) for h in ours], dim=1).reshape(-1, 64, 64)  # sample-major
    scale = ref.heatmap.abs().max()
    assert torch.allclose(ours / scale, ref.heatmap / scale, atol=1e-4, rtol=0)
    # concept relevances of all channels from an unconditional pass
    full = crp(
        x.clone().requires_grad_(True),
        [{"y": [t]} for t in target],
        composite,
        record_layer=[layer],
    )
    ref_rel = crp_concepts.ChannelConcept().attribute(full.relevances[layer], abs_norm=False)
    rel = concept_relevance(
        model, x, target=logit_target, composite="epsilon_plus_flat", layer=layer
    )
    rscale = ref_rel.abs().max()
    assert torch.allclose(rel / rscale, ref_rel / rscale, atol=1e-4, rtol=0)
