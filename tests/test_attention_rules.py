"""AttnLRP / CP-LRP rules against float64 replicas written in relevance form from the formulas.

The engine works in gradient × input form (modified gradients, relevance = tensor ∘ gradient); the
replicas below propagate relevance explicitly, rule by rule (ε-rule through linear layers, uniform
rule on products, softmax rule ``R = S ∘ (R_A − A Σ R_A)``, identity rule, constant statistics for
norms), so agreement checks the form conversion as well as each rule.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relscope.core.attribution import LayerMapComposite, attribute, get_composite
from relscope.plugins.rules.lrp import Gamma
from tests.attribution_support import float64_single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("float64_single_thread")

T, D = 5, 4


def close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-8) -> None:
    scale = expected.abs().max()
    assert (actual - expected).abs().max() <= rtol * scale, (actual, expected)


def epsilon_back(x: torch.Tensor, weight: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """ε-rule (ε = 0) through ``z = x @ weight`` (no bias): ``R_x = x ∘ weight (R / z)``."""
    z = x @ weight
    return x * ((relevance / z) @ weight.T)


# -- attention -------------------------------------------------------------------------------------
class EagerHead(nn.Module):
    """One attention head written out: softmax(q kᵀ / √d) v, then an output projection."""

    def __init__(self, wq, wk, wv, wo) -> None:
        super().__init__()
        self.wq, self.wk, self.wv, self.wo = (nn.Parameter(w.clone()) for w in (wq, wk, wv, wo))
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = x @ self.wq, x @ self.wk, x @ self.wv
        if self.fused:
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
            y = torch.softmax(scores, dim=-1) @ v
        return (y @ self.wo).flatten(1)


class TorchMHA(nn.Module):
    """The same head as ``nn.MultiheadAttention`` (one head, no biases)."""

    def __init__(self, wq, wk, wv, wo, need_weights: bool) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(D, 1, bias=False, batch_first=True)
        with torch.no_grad():
            self.attention.in_proj_weight.copy_(torch.cat([wq.T, wk.T, wv.T]))
            self.attention.out_proj.weight.copy_(wo.T)
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=self.need_weights)[0].flatten(1)


def attention_replica(x, wq, wk, wv, wo, c, variant: str) -> torch.Tensor:
    """Relevance at ``x`` (1, T, D), propagated rule by rule in relevance form."""
    x = x[0]
    q, k, v = x @ wq, x @ wk, x @ wv
    scores = q @ k.T / math.sqrt(D)
    a = torch.softmax(scores, dim=-1)
    y = a @ v
    out = y @ wo
    r_out = out * c.reshape(T, D)
    r_y = epsilon_back(y, wo, r_out)
    share = a[:, :, None] * v[None, :, :] / y[:, None, :]  # z[t,s,j] / y[t,j]
    half = 0.5 if variant == "attn_lrp" else 1.0
    r_v = half * torch.einsum("tsj,tj->sj", share, r_y)
    relevance = epsilon_back(x, wv, r_v)
    if variant == "attn_lrp":
        r_a = 0.5 * torch.einsum("tsj,tj->ts", share, r_y)
        r_scores = scores * (r_a - a * r_a.sum(-1, keepdim=True))
        share_qk = q[:, None, :] * k[None, :, :] / math.sqrt(D) / scores[:, :, None]
        r_q = 0.5 * torch.einsum("tsi,ts->ti", share_qk, r_scores)
        r_k = 0.5 * torch.einsum("tsi,ts->si", share_qk, r_scores)
        relevance = relevance + epsilon_back(x, wq, r_q) + epsilon_back(x, wk, r_k)
    return relevance[None]


@pytest.mark.parametrize("variant", ["attn_lrp", "cp_lrp"])
@pytest.mark.parametrize("form", ["eager", "sdpa", "mha", "mha_weights"])
def test_attention_matches_the_relevance_form_replica(variant: str, form: str) -> None:
    torch.manual_seed(1)
    wq, wk, wv, wo = (torch.randn(D, D) for _ in range(4))
    x, c = torch.randn(1, T, D), torch.randn(1, T * D)
    if form in ("eager", "sdpa"):
        model = EagerHead(wq, wk, wv, wo)
        model.fused = form == "sdpa"
    else:
        model = TorchMHA(wq, wk, wv, wo, need_weights=form == "mha_weights")
    relevance = attribute(model, x, target=c, composite=variant)
    close(relevance, attention_replica(x, wq, wk, wv, wo, c, variant))


# -- gated products, activations --------------------------------------------------------------------
class GatedMLP(nn.Module):
    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.gate, self.up = nn.Linear(D, 6, bias=False), nn.Linear(D, 6, bias=False)
        self.down = nn.Linear(6, D, bias=False)
        self.act = nn.SiLU()
        self.functional = functional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.silu(self.gate(x)) if self.functional else self.act(self.gate(x))
        return self.down(gate * self.up(x)).flatten(1)


@pytest.mark.parametrize("variant", ["attn_lrp", "cp_lrp"])
@pytest.mark.parametrize("functional", [False, True])
def test_gated_product_matches_the_uniform_and_gate_constant_rules(
    variant: str, functional: bool
) -> None:
    torch.manual_seed(2)
    model = GatedMLP(functional)
    x, c = torch.randn(1, T, D), torch.randn(1, T * D)
    relevance = attribute(model, x, target=c, composite=variant)
    wg, wu, wd = (m.weight.detach().T for m in (model.gate, model.up, model.down))
    g, u = x[0] @ wg, x[0] @ wu
    h = F.silu(g) * u
    r_h = epsilon_back(h, wd, (h @ wd) * c.reshape(T, D))
    if variant == "attn_lrp":  # uniform: half to each factor; identity rule through the SiLU
        expected = epsilon_back(x[0], wg, r_h / 2) + epsilon_back(x[0], wu, r_h / 2)
    else:  # CP-LRP: the gate is a constant, the whole relevance goes to the up projection
        expected = epsilon_back(x[0], wu, r_h)
    close(relevance, expected[None])


def new_gelu_module() -> nn.Module:
    activations = pytest.importorskip("transformers.activations")
    return activations.NewGELUActivation()


class Functional(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


@pytest.mark.parametrize(
    "make_act",
    [
        nn.GELU,
        lambda: nn.GELU(approximate="tanh"),
        nn.SiLU,
        nn.Tanh,
        new_gelu_module,
        lambda: Functional(F.gelu),
        lambda: Functional(torch.sigmoid),
    ],
    ids=["gelu", "gelu_tanh", "silu", "tanh", "hf_new_gelu", "F.gelu", "torch.sigmoid"],
)
def test_activations_get_the_identity_rule(make_act) -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(D, 6, bias=False), make_act(), nn.Linear(6, 3, bias=False))
    x, c = torch.randn(2, D), torch.randn(2, 3)
    w1, w2 = model[0].weight.detach().T, model[2].weight.detach().T
    z = x @ w1
    h = model[1](z)
    r_h = epsilon_back(h, w2, (h @ w2) * c)
    expected = epsilon_back(x, w1, r_h)  # identity rule: R_z = R_h
    for variant in ("attn_lrp", "cp_lrp"):
        close(attribute(model, x, target=c, composite=variant), expected)


# -- norms ------------------------------------------------------------------------------------------
class FunctionalRMSNorm(nn.Module):
    """Hugging Face's RMSNorm, written as in LLaMA: ``w * x * torch.rsqrt(mean(x²) + eps)``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.rand(n) + 0.5)
        self.eps = 1e-6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


@pytest.mark.parametrize("kind", ["layer_norm", "rms_norm", "functional_rms_norm"])
def test_norms_treat_the_normalising_factor_as_constant(kind: str) -> None:
    torch.manual_seed(4)
    n = 6
    if kind == "layer_norm":
        norm = nn.LayerNorm(n)
        with torch.no_grad():
            norm.weight.copy_(torch.rand(n) + 0.5)
            norm.bias.copy_(torch.randn(n))
    elif kind == "rms_norm":
        norm = nn.RMSNorm(n, eps=1e-6)
        with torch.no_grad():
            norm.weight.copy_(torch.rand(n) + 0.5)
    else:
        norm = FunctionalRMSNorm(n)
    head = nn.Linear(n, 3, bias=False)
    model = nn.Sequential(norm, head)
    x, c = torch.randn(2, n), torch.randn(2, 3)
    w = head.weight.detach().T
    y = norm(x).detach()
    r_y = y * (c @ w.T)  # ε-rule through the bias-free head: R_y = y ∘ Wᵀ(R/z), R = z ∘ c
    expected = []
    for i in range(2):
        xi = x[i]
        if kind == "layer_norm":
            std = torch.sqrt(xi.var(unbiased=False) + norm.eps)
            jacobian = torch.diag(norm.weight.detach() / std) @ (torch.eye(n) - 1.0 / n)
        else:
            rms = torch.sqrt(xi.pow(2).mean() + 1e-6)
            jacobian = torch.diag(norm.weight.detach() / rms)
        expected.append(xi * (jacobian.T @ (r_y[i] / y[i])))
    close(attribute(model, x, target=c, composite="attn_lrp"), torch.stack(expected))


# -- mixing with the CNN rules ----------------------------------------------------------------------
def test_gamma_on_the_patch_embedding_mixes_with_attn_lrp() -> None:
    torch.manual_seed(5)
    patch = nn.Conv2d(3, D, 2, stride=2, bias=False)
    head = EagerHead(*(torch.randn(D, D) for _ in range(4)))

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch, self.head = patch, head

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.patch(x).flatten(2).transpose(1, 2))

    x = torch.randn(1, 3, 2, 2 * T).abs() + 0.1  # T patches, no zeros
    c = torch.randn(1, T * D)
    mixed = get_composite("attn_lrp", layer_map=[(nn.Conv2d, Gamma(gamma=0.25))])
    relevance = attribute(Tiny(), x, target=c, composite=mixed)
    # the same in two steps: AttnLRP relevance at the patch output, then γ in relevance form
    with torch.no_grad():
        tokens = patch(x).flatten(2).transpose(1, 2)
    r_tokens = attribute(head, tokens, target=c, composite="attn_lrp")
    r_patch = r_tokens.transpose(1, 2).reshape(1, D, 1, T)
    expected = attribute(
        patch, x, target=r_patch, composite=LayerMapComposite([(nn.Conv2d, Gamma(gamma=0.25))])
    )
    close(relevance, expected)
