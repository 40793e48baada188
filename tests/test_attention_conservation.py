"""Conservation on bias-free, norm-free toy transformers; exact restoration; no effect on other
models; unrecognised attention refused; CNN composites warn about uncovered attention."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relscope.core.attribution import Gradient, attribute, get_composite
from relscope.core.attribution.attention_coverage import UncoveredAttentionWarning
from relscope.core.errors import AttributionError
from tests.attribution_support import single_thread  # noqa: F401  (fixture)
from tests.canonizer_support import assert_restored, snapshot

pytestmark = pytest.mark.usefixtures("single_thread")


class ToyBlock(nn.Module):
    """x + attention(x); x + down(silu(gate(x)) * up(x)) — no biases, no norms."""

    def __init__(self, d: int, heads: int, fused: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.gate, self.up = nn.Linear(d, 2 * d, bias=False), nn.Linear(d, 2 * d, bias=False)
        self.down = nn.Linear(2 * d, d, bias=False)
        self.act = nn.SiLU()
        self.heads, self.fused, self.attend = heads, fused, True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        if not self.attend:
            return x + self.down(self.act(self.gate(x)) * self.up(x))
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.fused:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
            mask = torch.ones(t, t, dtype=torch.bool).tril()
            scores = scores.masked_fill(~mask, float("-inf"))
            y = scores.softmax(-1) @ v
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(self.act(self.gate(x)) * self.up(x))


class ToyTransformer(nn.Module):
    def __init__(self, d: int = 16, heads: int = 4, layers: int = 2, fused: bool = False) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ToyBlock(d, heads, fused) for _ in range(layers)))
        self.head = nn.Linear(d, 5, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x)[:, -1])


def toy(seed: int = 0, fused: bool = False) -> ToyTransformer:
    torch.manual_seed(seed)
    return ToyTransformer(fused=fused).eval()


@pytest.mark.parametrize("fused", [False, True])
def test_cp_lrp_conserves_the_target_logit_on_a_bias_free_toy_transformer(fused: bool) -> None:
    model = toy(fused=fused)
    x = torch.randn(3, 7, 16)
    relevance = attribute(model, x, target=[0, 2, 4], composite="cp_lrp")
    with torch.no_grad():
        logits = model(x)[torch.arange(3), torch.tensor([0, 2, 4])]
    sums = relevance.sum((1, 2))
    assert ((sums - logits).abs() <= 0.01 * logits.abs()).all(), (sums, logits)


def test_attn_lrp_conserves_through_gated_mlps_and_residuals() -> None:
    # the uniform rule on gated products, the identity rule and residual sums conserve exactly;
    # (the softmax rule does not: relevance reaching the scores is only partly passed to q and k)
    model = toy()
    for block in model.blocks:
        block.attend = False
    x = torch.randn(2, 7, 16)
    relevance, delta = attribute(
        model, x, target=1, composite="attn_lrp", return_convergence_delta=True
    )
    with torch.no_grad():
        logits = model(x)[:, 1]
    assert (delta.abs() <= 0.01 * logits.abs()).all(), (delta, logits)
    assert torch.allclose(relevance.sum((1, 2)), logits, rtol=0.01)


def test_eager_and_fused_attention_give_the_same_relevance() -> None:
    x = torch.randn(2, 7, 16)
    for variant in ("attn_lrp", "cp_lrp"):
        eager = attribute(toy(fused=False), x, target=3, composite=variant)
        fused = attribute(toy(fused=True), x, target=3, composite=variant)
        assert torch.allclose(eager, fused, atol=1e-5 * eager.abs().max()), variant


def test_the_model_is_restored_bit_for_bit_also_after_an_exception() -> None:
    model = toy()
    x = torch.randn(1, 7, 16)
    before = snapshot(model, x)
    flags = [p.requires_grad for p in model.parameters()]
    for variant in ("attn_lrp", "cp_lrp"):
        attribute(model, x, target=0, composite=variant)
        assert_restored(model, before)
        with pytest.raises(RuntimeError, match="inside"):
            with get_composite(variant).context(model):
                model(x.requires_grad_(True))
                raise RuntimeError("inside")
        assert_restored(model, before)
    assert "forward" not in model.__dict__
    assert [p.requires_grad for p in model.parameters()] == flags


def test_a_second_model_in_the_same_process_is_unaffected() -> None:
    model, other = toy(0), toy(1)
    x = torch.randn(1, 7, 16)
    leaf = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(other(leaf)[0, 2], leaf)
    with Gradient(model, get_composite("attn_lrp")) as attributor:
        _, relevance = attributor(x, 2)
        leaf = x.clone().requires_grad_(True)
        (during,) = torch.autograd.grad(other(leaf)[0, 2], leaf)
        # the same architecture as a deep copy (its own forward) is plain as well
        twin = copy.deepcopy(other)
        leaf = x.clone().requires_grad_(True)
        (twin_grad,) = torch.autograd.grad(twin(leaf)[0, 2], leaf)
    assert torch.equal(plain, during)
    assert torch.equal(plain, twin_grad)
    assert not torch.allclose(relevance, plain * x)  # while the model itself was modified


def test_function_counts_show_what_the_rules_found() -> None:
    model = toy()
    composite = get_composite("attn_lrp")
    with Gradient(model, composite) as attributor:
        attributor(torch.randn(1, 7, 16), 0)
        counts = composite.function_counts()
    # per block: softmax, q@kᵀ, probabilities@v, the gated product; the SiLU is a module rule
    assert counts == {"softmax": 2, "product": 6}


class NativeAttention(nn.Module):
    """Attention through torch's fused native kernel, which relscope cannot see into."""

    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mha
        out, _ = torch._native_multi_head_attention(
            x, x, x, 8, 2, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight, m.out_proj.bias
        )
        return out.sum(1)


class ManualSoftmaxAttention(nn.Module):
    """An attention module whose softmax is written out (exp / sum): not recognised."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = (x @ x.transpose(-1, -2)).exp()
        return ((scores / scores.sum(-1, keepdim=True)) @ x).sum(1)


@pytest.mark.parametrize(
    "model, message",
    [
        (
            NativeAttention(),
            r"unrecognised attention operation torch\._native_multi_head_attention",
        ),
        (ManualSoftmaxAttention(), r"attention layer <model> \(ManualSoftmaxAttention\) computed"),
    ],
)
def test_unrecognised_attention_is_refused_with_one_line(model: nn.Module, message: str) -> None:
    with pytest.raises(AttributionError, match=message) as info:
        attribute(model.eval(), torch.randn(1, 3, 8), target=0, composite="cp_lrp")
    assert "\n" not in str(info.value)
    assert "forward" not in model.__dict__


def test_a_cnn_composite_on_an_attention_model_warns_naming_the_layers() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
    model = nn.Sequential(nn.TransformerEncoder(layer, 2), nn.Flatten(), nn.Linear(24, 2)).eval()
    with pytest.warns(UncoveredAttentionWarning, match=r"0\.layers\.0\.self_attn \(Multihead"):
        attribute(model, torch.randn(1, 3, 8), target=0, composite="epsilon_plus")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UncoveredAttentionWarning)
        attribute(model, torch.randn(1, 3, 8), target=0, composite="attn_lrp")


def test_a_plain_import_and_the_cli_never_import_transformers() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from relscope.core.attribution import attribute, get_composite\n"
        "import relscope.core.model_loading, relscope.plugins.rules.transformers_lrp\n"
        "from relscope.core.cli.main import main\n"
        "assert main(['list', 'composites']) == 0\n"
        "get_composite('attn_lrp')\n"
        "bad = [m for m in ('transformers', 'timm') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "attn_lrp" in done.stdout and "cp_lrp" in done.stdout


def test_dropout_is_the_identity_also_in_training_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.GELU(), nn.Linear(8, 3))
    x = torch.randn(4, 6)
    expected = attribute(model.eval(), x, target=1, composite="attn_lrp")
    relevance = attribute(model.train(), x, target=1, composite="attn_lrp")
    assert torch.equal(relevance, expected)
