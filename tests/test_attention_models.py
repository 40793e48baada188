"""Every attention model family attributes with attn_lrp and cp_lrp on random weights (no download).

Each test checks what the mechanism found (one recognised attention operation per attention layer,
every LayerNorm), that the model is restored bit for bit, and — where a model can compute its
attention two ways (eager and fused ``scaled_dot_product_attention``) — that both give the same
relevance.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from relscope.core.attribution import Gradient, get_composite
from relscope.core.attribution.attention_coverage import attention_layers
from tests.attribution_support import single_thread  # noqa: F401  (fixture)
from tests.canonizer_support import assert_restored, snapshot

pytestmark = pytest.mark.usefixtures("single_thread")


def attribute_counting(model: nn.Module, x: torch.Tensor, variant: str, target: int = 1) -> Any:
    """(relevance, function counts of the forward) for ``variant``."""
    composite = get_composite(variant)
    with Gradient(model, composite) as attributor:
        _, relevance = attributor(x, target)
        counts = composite.function_counts()
    return relevance, counts


def check_model(model: nn.Module, x: torch.Tensor, variants=("attn_lrp", "cp_lrp")) -> dict:
    """Attribute with each variant; check findings, finiteness and exact restoration."""
    model.eval()
    before = snapshot(model, x)
    layers = attention_layers(model)
    norms = sum(isinstance(m, nn.LayerNorm) for m in model.modules())
    results = {}
    for variant in variants:
        relevance, counts = attribute_counting(model, x, variant)
        assert relevance.shape == x.shape
        assert torch.isfinite(relevance).all() and relevance.abs().sum() > 0
        assert counts.get("attention", 0) + counts.get("softmax", 0) == len(layers), counts
        assert counts.get("norm", 0) >= norms, counts
        results[variant] = relevance
    assert not torch.allclose(results[variants[0]], results[variants[-1]]) or len(variants) == 1
    assert_restored(model, before)
    return results


# -- torchvision ------------------------------------------------------------------------------------
def torchvision_model(name: str, **kwargs: Any) -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    for module in model.modules():  # torchvision zero-initialises ViT heads
        if isinstance(module, nn.Linear) and not module.weight.any():
            nn.init.normal_(module.weight, std=0.02)
    return model


@pytest.mark.parametrize(
    "name", ["vit_b_16", "vit_b_32", pytest.param("vit_l_16", marks=pytest.mark.slow)]
)
def test_torchvision_vit(name: str) -> None:
    model = torchvision_model(name, image_size=64)
    variants = ("cp_lrp",) if name == "vit_l_16" else ("attn_lrp", "cp_lrp")
    check_model(model, torch.randn(1, 3, 64, 64), variants)


@pytest.mark.parametrize("name", ["swin_t", "swin_s", "swin_b", "swin_v2_t"])
def test_torchvision_swin(name: str) -> None:
    variants = ("attn_lrp", "cp_lrp") if name in ("swin_t", "swin_v2_t") else ("cp_lrp",)
    check_model(torchvision_model(name), torch.randn(1, 3, 64, 64), variants)


def test_torchvision_maxvit() -> None:
    check_model(torchvision_model("maxvit_t"), torch.randn(1, 3, 224, 224), ("cp_lrp",))


# -- torch layers -----------------------------------------------------------------------------------
class EncoderClassifier(nn.Module):
    def __init__(self, norm_first: bool) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first, activation="gelu"
        )
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_transformer_encoder(norm_first: bool) -> None:
    torch.manual_seed(0)
    check_model(EncoderClassifier(norm_first), torch.randn(2, 6, 16))


# -- Hugging Face -----------------------------------------------------------------------------------
class LastTokenLogits(nn.Module):
    """A language model as a function of its input embeddings: the last position's logits."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.lm(inputs_embeds=embeddings).logits[:, -1]


class SequenceLogits(nn.Module):
    def __init__(self, model: nn.Module, key: str = "inputs_embeds") -> None:
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(**{self.key: x}).logits


def hf_model(family: str, attn: str) -> tuple[nn.Module, torch.Tensor]:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    small = dict(num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    decoder = dict(vocab_size=40, hidden_size=32, num_key_value_heads=2, **small)
    encoder = dict(vocab_size=40, hidden_size=32, **small)
    image = dict(image_size=32, patch_size=8, hidden_size=32, num_labels=3, **small)
    specs = {
        "llama": (transformers.LlamaConfig, decoder, transformers.LlamaForCausalLM, "lm"),
        "qwen2": (transformers.Qwen2Config, decoder, transformers.Qwen2ForCausalLM, "lm"),
        "mistral": (transformers.MistralConfig, decoder, transformers.MistralForCausalLM, "lm"),
        "gpt2": (
            transformers.GPT2Config,
            dict(vocab_size=40, n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0),
            transformers.GPT2LMHeadModel,
            "lm",
        ),
        "bert": (
            transformers.BertConfig,
            encoder,
            transformers.BertForSequenceClassification,
            "seq",
        ),
        "roberta": (
            transformers.RobertaConfig,
            encoder,
            transformers.RobertaForSequenceClassification,
            "seq",
        ),
        "vit": (transformers.ViTConfig, image, transformers.ViTForImageClassification, "image"),
        "deit": (
            transformers.DeiTConfig,
            image,
            transformers.DeiTForImageClassification,
            "image",
        ),
    }
    config_cls, params, model_cls, kind = specs[family]
    config = config_cls(**params)
    config._attn_implementation = attn
    model = model_cls(config).eval()
    if kind == "lm":
        return LastTokenLogits(model), torch.randn(1, 6, 32)
    if kind == "seq":
        return SequenceLogits(model), torch.randn(1, 6, 32)
    return SequenceLogits(model, "pixel_values"), torch.randn(1, 3, 32, 32)


@pytest.mark.parametrize(
    "family", ["llama", "qwen2", "mistral", "gpt2", "bert", "roberta", "vit", "deit"]
)
def test_hugging_face_models_eager_and_sdpa_agree(family: str) -> None:
    eager_model, x = hf_model(family, "eager")
    sdpa_model, _ = hf_model(family, "sdpa")
    eager = check_model(eager_model, x)
    for variant, relevance in check_model(sdpa_model, x).items():
        scale = eager[variant].abs().max()
        assert (relevance - eager[variant]).abs().max() <= 1e-4 * scale, variant


# -- timm -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "deit_tiny_patch16_224"])
def test_timm_models_eager_and_fused_agree(name: str) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, img_size=64, num_classes=5)
    x = torch.randn(1, 3, 64, 64)
    fused = check_model(model, x)
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False
    eager = check_model(model, x)
    for variant in fused:
        scale = eager[variant].abs().max()
        assert (fused[variant] - eager[variant]).abs().max() <= 1e-4 * scale, variant
