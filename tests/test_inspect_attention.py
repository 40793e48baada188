"""``relscope inspect`` on attention models: the rule each attention/norm/activation got, warnings
for composites without attention rules, and per-block relevance sums (conserved by cp_lrp on a
bias-free encoder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relscope.core.cli.main import main

ENCODER = """
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            16, 4, 32, dropout=0.0, batch_first=True, activation="gelu", bias=False
        )
        self.encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3, bias=False)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


def encoder():
    torch.manual_seed(0)
    return Encoder()
"""


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "attention_models.py").write_text(ENCODER)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_inspect_names_the_rule_of_attention_norms_and_activations(models, capsys) -> None:
    code = main(["inspect", "attention_models:encoder", "--composite", "attn_lrp",
                 "--input-shape", "5,16"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"encoder\.layers\.0\.linear1\s+Linear\s+gradient", out)
    assert re.search(r"encoder\.layers\.0\.norm1\s+LayerNorm\s+norm: 1/std constant", out)
    for i in range(3):
        assert (
            f"attention encoder.layers.{i}.self_attn (MultiheadAttention): AttnLRP: q, k ¼ and v ½"
            in out
        )
    assert (
        "function rules changed these calls in one forward: activation 3, attention 3, norm 6"
        in out
    )


def test_inspect_warns_when_the_composite_has_no_attention_rule(models, capsys) -> None:
    with pytest.warns(UserWarning, match="no rule for attention"):
        code = main(["inspect", "attention_models:encoder", "--composite", "epsilon_plus",
                     "--input-shape", "5,16"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "warning: attention layer 'encoder.layers.2.self_attn' (MultiheadAttention) gets no rule"
        in out
    )


def test_relevance_sums_per_block_are_conserved_by_cp_lrp(models, capsys) -> None:
    code = main(["inspect", "attention_models:encoder", "--composite", "cp_lrp",
                 "--input-shape", "5,16", "--relevance-sums"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    blocks = [float(v) for v in re.findall(r"^  encoder\.layers\.\d: (\S+)$", out, re.MULTILINE)]
    match = re.search(r"relevance sum at the input: (\S+) \(output relevance: (\S+)\)", out)
    assert len(blocks) == 3 and match
    inputs, output = float(match.group(1)), float(match.group(2))
    assert output != 0
    for value in [*blocks, inputs]:  # bias-free: every block passes the whole logit on
        assert abs(value - output) <= 0.01 * abs(output), (value, output)
