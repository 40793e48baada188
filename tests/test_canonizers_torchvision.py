"""torchvision models: default canonizers, ResNet conservation, and the whole classification zoo.

Every model of ``torchvision.models.list_models(module=torchvision.models)`` either attributes with
``epsilon_plus_flat`` and ``epsilon_gamma_box`` (random weights) or is refused early as
unsupported and listed in docs/supported-models.md. Small models run here at reduced resolution;
the large ones are marked slow (``benchmarks/torchvision_zoo.py`` runs all of them at 224).
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models

from relscope.core.attribution import Gradient, attribute, get_composite
from relscope.core.attribution.attention_coverage import UncoveredAttentionWarning
from relscope.core.attribution.sum_layer import Sum
from relscope.core.plugin_manager import default_plugin_manager
from relscope.plugins.canonizers.convnext import ConvNeXtBlockCanonizer
from relscope.plugins.canonizers.pass_through import PassThroughCanonizer
from relscope.plugins.canonizers.squeeze_excitation import GatedProduct, SqueezeExcitationCanonizer
from relscope.plugins.canonizers.torchvision_models import (
    CNNCanonizer,
    ConvNeXtCanonizer,
    InceptionCanonizer,
    InputTransformCanonizer,
    ResNetCanonizer,
    VGGCanonizer,
)
from tests.canonizer_support import assert_restored, randomize_batchnorm, snapshot

DOCS = Path(__file__).resolve().parent.parent / "docs" / "supported-models.md"
ZOO = models.list_models(module=models)
#: small models attributed in the fast suite (3x32x32, batch 1): one per canonizer family
FAST = {
    "alexnet": 64,  # no canonizer needed
    "vgg11_bn": 32,  # vgg
    "resnet18": 32,  # resnet
    "googlenet": 32,  # inception
    "convnext_tiny": 32,  # convnext
    "mobilenet_v3_small": 32,  # cnn: squeeze-excitation, residual sums
    "shufflenet_v2_x0_5": 32,  # cnn: channel split and shuffle, concatenation
    "squeezenet1_1": 64,  # cnn: concatenation, no batch norm
}
BUILD_ARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


def build(name: str, device: str = "cpu") -> nn.Module:
    with torch.device(device):
        return models.get_model(name, weights=None, **BUILD_ARGS.get(name, {})).eval()


def model_class(name: str) -> type:
    """The class a builder returns, from its annotation (no need to build the model)."""
    return typing.get_type_hints(models.get_model_builder(name))["return"]


#: the attention models: attn_lrp / cp_lrp (tests/test_attention_models.py), no canonizer
ATTENTION = (models.VisionTransformer, models.SwinTransformer, models.MaxVit)


def is_attention(name: str) -> bool:
    return issubclass(model_class(name), ATTENTION)


def default_canonizers(model: nn.Module) -> list | None:
    return default_plugin_manager().hook.default_canonizers(model=model)


# -- the default_canonizers hook ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vgg11", VGGCanonizer),
        ("vgg11_bn", VGGCanonizer),
        ("resnet18", ResNetCanonizer),
        ("resnext50_32x4d", ResNetCanonizer),
        ("wide_resnet50_2", ResNetCanonizer),
        ("convnext_tiny", ConvNeXtCanonizer),
        ("googlenet", InceptionCanonizer),
        ("inception_v3", InceptionCanonizer),
        ("densenet121", CNNCanonizer),
        ("mobilenet_v2", CNNCanonizer),
        ("mobilenet_v3_large", CNNCanonizer),
        ("efficientnet_b0", CNNCanonizer),
        ("efficientnet_v2_s", CNNCanonizer),
        ("mnasnet0_5", CNNCanonizer),
        ("shufflenet_v2_x0_5", CNNCanonizer),
        ("squeezenet1_0", CNNCanonizer),
    ],
)
def test_default_canonizers_hook_picks_the_family_canonizer(name: str, expected: type) -> None:
    model = build(name, device="meta")
    first, second = default_canonizers(model), default_canonizers(model)
    assert [type(c) for c in first] == [expected]
    assert first[0] is not second[0]  # fresh instances each time


def test_default_canonizers_hook_knows_alexnet_and_ignores_other_models() -> None:
    assert default_canonizers(build("alexnet", device="meta")) == []
    assert default_canonizers(nn.Sequential(nn.Linear(2, 2))) is None


@pytest.mark.parametrize("name", ["vit_b_16", "swin_t", "swin_v2_t", "maxvit_t"])
def test_attention_models_need_no_canonizer_and_cnn_composites_warn(name: str) -> None:
    model = build(name, device="meta")
    assert default_canonizers(model) == []
    with pytest.warns(
        UncoveredAttentionWarning,
        match=r"composite 'epsilon_plus_flat' has no rule for attention; uncovered attention "
        r"layers: [\w.]+ \(\w*Attention\w*\)",
    ):
        with get_composite("epsilon_plus_flat").context(model):
            pass
    assert not any(isinstance(m, Sum) for m in model.modules())


def test_attention_models_are_listed_as_supported_in_the_docs() -> None:
    text = DOCS.read_text()
    supported = text.split("## Supported")[1].split("## ")[0]
    attention = [name for name in ZOO if is_attention(name)]
    assert len(attention) >= 10  # ViT, Swin v1/v2, MaxViT
    for name in attention:
        assert f"`{name}`" in supported, name
    assert "## Not supported yet" not in text


# -- ResNet: conservation through explicit residual sums ------------------------------------------
def conservation(model: nn.Module, x: torch.Tensor, canonizers: list | None = None) -> torch.Tensor:
    """Input relevance sum per sample for epsilon_plus with zero biases (output relevance: 1)."""
    composite = get_composite("epsilon_plus", zero_params=("bias",), canonizers=canonizers)
    relevance = attribute(model, x, target=[1] * len(x), composite=composite)
    assert torch.isfinite(relevance).all()
    return relevance.double().flatten(1).sum(1)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("resnet18", 224),
        ("resnet50", 64),
        pytest.param("resnet50", 224, marks=pytest.mark.slow),
    ],
)
def test_resnet_relevance_is_conserved_with_the_canonizer(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = build(name)
    x = torch.randn(1, 3, size, size)
    before = snapshot(model, x)
    sums = conservation(model, x)
    # measured: |1 - sum| < 1e-4 for resnet18 @224 and resnet50 @64/@224 (see the report)
    assert ((sums - 1).abs() < 0.01).all(), sums
    assert_restored(model, before)


def test_resnet_without_the_canonizer_does_not_conserve() -> None:
    """The residual addition left to the gradient copies relevance to both summands."""
    torch.manual_seed(0)
    model = build("resnet18")
    x = torch.randn(1, 3, 64, 64)
    assert ((conservation(model, x, canonizers=[]) - 1).abs() > 0.5).all()


def test_resnet_canonizer_makes_each_block_sum_explicit_with_identical_outputs() -> None:
    torch.manual_seed(1)
    model = randomize_batchnorm(build("resnet18"))
    x = torch.randn(1, 3, 64, 64)
    before = snapshot(model, x)
    canonizer = ResNetCanonizer()
    canonizer.register(model)
    try:
        sums = [name for name, m in model.named_modules() if isinstance(m, Sum)]
        assert sums == [f"layer{i}.{j}.residual_sum" for i in range(1, 5) for j in range(2)]
        merge = canonizer.canonizers[0]
        assert len(merge.merged) == 20 and merge.unmerged == {}
        with torch.no_grad():
            out = model(x)
        assert (out - before["output"]).abs().max() < 1e-5 * before["output"].abs().max()
    finally:
        canonizer.remove()
    assert_restored(model, before)


# -- family canonizers ------------------------------------------------------------------------------
def test_squeeze_excitation_gives_all_relevance_to_the_signal() -> None:
    torch.manual_seed(2)
    signal = torch.randn(2, 4, 3, 3, requires_grad=True)
    gate = torch.rand(2, 4, 1, 1, requires_grad=True)
    out = GatedProduct()(signal, gate)
    assert torch.equal(out, gate * signal)
    relevance = torch.randn_like(out)
    grad_signal, grad_gate = torch.autograd.grad(out, (signal, gate), relevance, allow_unused=True)
    assert torch.equal(grad_signal, relevance) and grad_gate is None

    model = build("efficientnet_b0")
    x = torch.randn(1, 3, 32, 32)
    before = snapshot(model, x)
    canonizer = SqueezeExcitationCanonizer()
    canonizer.register(model)
    try:
        assert sum(isinstance(m, GatedProduct) for m in model.modules()) == 16
        with torch.no_grad():
            assert torch.equal(model(x), before["output"])
    finally:
        canonizer.remove()
    assert_restored(model, before)


def test_convnext_layer_scale_is_folded_and_layer_norm_passes_relevance() -> None:
    torch.manual_seed(3)
    model = build("convnext_tiny")
    block = model.features[1][0]
    with torch.no_grad():
        block.layer_scale.uniform_(0.5, 2.0)  # as if trained: far from the 1e-6 initial value
    x = torch.randn(1, 3, 32, 32)
    before = snapshot(model, x)
    expected = block.block[5].weight.detach() * block.layer_scale.detach().reshape(-1, 1)
    canonizer = ConvNeXtCanonizer()
    canonizer.register(model)
    try:
        assert torch.allclose(block.block[5].weight, expected, rtol=1e-6, atol=0)
        with torch.no_grad():
            out = model(x)
        assert (out - before["output"]).abs().max() < 1e-5 * before["output"].abs().max()
        norm = model.features[0][1]  # LayerNorm2d of the stem
        y = torch.randn(1, 96, 4, 4, requires_grad=True)
        relevance = torch.randn(1, 96, 4, 4)
        (grad,) = torch.autograd.grad(norm(y), y, relevance)
        assert torch.equal(grad, relevance)
    finally:
        canonizer.remove()
    assert_restored(model, before)
    assert isinstance(canonizer.canonizers[0], ConvNeXtBlockCanonizer)
    assert isinstance(canonizer.canonizers[1], PassThroughCanonizer)


def test_inception_input_transform_passes_relevance_unchanged() -> None:
    torch.manual_seed(4)
    model = models.googlenet(
        weights=None, aux_logits=False, init_weights=False, transform_input=True
    )
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    before = snapshot(model, x)
    canonizer = InputTransformCanonizer()
    canonizer.register(model)
    try:
        leaf = x.clone().requires_grad_(True)
        transformed = model._transform_input(leaf)
        assert torch.equal(transformed, models.GoogLeNet._transform_input(model, x))
        relevance = torch.randn_like(transformed)
        (grad,) = torch.autograd.grad(transformed, leaf, relevance)
        assert torch.equal(grad, relevance)  # not scaled by 0.229 / 0.5 and friends
    finally:
        canonizer.remove()
    assert_restored(model, before)


def test_densenet_keeps_batch_norms_before_relus_and_says_why() -> None:
    model = randomize_batchnorm(build("densenet121"))
    x = torch.randn(1, 3, 32, 32)
    before = snapshot(model, x)
    canonizer = CNNCanonizer()
    canonizer.register(model)
    try:
        merge = canonizer.canonizers[0]
        assert len(merge.merged) == 59  # conv0 -> norm0 and every conv1 -> norm2
        assert len(merge.unmerged) == 62
        assert all("relu" in why.lower() for why in merge.unmerged.values())
        assert "relu()" in merge.unmerged["features.norm5"]  # F.relu in DenseNet.forward
        with torch.no_grad():
            out = model(x)
        assert (out - before["output"]).abs().max() < 1e-5 * before["output"].abs().max()
    finally:
        canonizer.remove()
    assert_restored(model, before)


# -- the zoo ----------------------------------------------------------------------------------------
def zoo_params() -> list:
    params = []
    for name in ZOO:
        slow = name not in FAST
        params.append(pytest.param(name, marks=pytest.mark.slow) if slow else name)
    return params


def calibrate_batchnorm(model: nn.Module, batch: torch.Tensor) -> None:
    """Running statistics from ``batch``: realistic activation scales for random weights (with
    torch's defaults, deep random MobileNets shrink activations to ~1e-9, below the stabiliser)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
            module.train()
    with torch.no_grad():
        model(batch)
    model.eval()


@pytest.mark.parametrize("name", zoo_params())
def test_every_torchvision_classifier_attributes(name: str) -> None:
    torch.manual_seed(0)
    model = build(name)
    size = FAST.get(name, 299 if name == "inception_v3" else 224)
    calibrate_batchnorm(model, torch.randn(4, 3, size, size))
    x = torch.randn(1, 3, size, size)
    before = snapshot(model, x)
    if is_attention(name):
        for module in model.modules():  # torchvision zero-initialises the ViT head
            if isinstance(module, nn.Linear) and not module.weight.any():
                nn.init.normal_(module.weight, std=0.02)
        before = snapshot(model, x)
        composites = [get_composite("attn_lrp"), get_composite("cp_lrp")]
    else:
        composites = [
            get_composite("epsilon_plus_flat"),
            get_composite("epsilon_gamma_box", low=-3.0, high=3.0),
        ]
    for composite in composites:
        output, relevance = Gradient(model, composite)(x, 0)
        assert relevance.shape == x.shape
        assert torch.isfinite(relevance).all()
        assert relevance.abs().sum() > 0
        scale = before["output"].abs().max()
        assert (output - before["output"]).abs().max() <= 1e-4 * scale  # canonized: same model
    assert_restored(model, before)
