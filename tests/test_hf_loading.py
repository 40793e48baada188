"""``--model hf:<folder>``: a saved ``from_pretrained`` folder attributes through the CLI like the
same model in memory; a folder without config.json or with weights that do not fit is one line,
exit 2; relevance per token of a language model."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from relscope.core.attribution import attribute
from relscope.core.attribution.token_relevance import token_relevance
from relscope.core.cli.main import main
from relscope.core.hf_loading import HFLogits, load_hf_folder
from tests.test_attribute_cli import _digits_inputs

transformers = pytest.importorskip("transformers")

LIMIT = 8


def tiny_vit(labels: int = 10, hidden: int = 32):
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=1, hidden_size=hidden, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, num_labels=labels,
    )  # fmt: skip
    return transformers.ViTForImageClassification(config).eval()


def test_a_saved_hf_folder_attributes_through_the_cli_like_in_memory(tmp_path, capsys) -> None:
    folder = tmp_path / "vit"
    tiny_vit().save_pretrained(folder)
    capsys.readouterr()
    out = tmp_path / "attribution.h5"
    code = main(
        ["attribute", "--model", f"hf:{folder}", "--data", "builtin:digits",
         "--data-out", str(tmp_path / "digits.h5"), "--composite", "attn_lrp",
         "--limit", str(LIMIT), "--batch-size", str(LIMIT), "--workers", "0", "--quiet",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with h5py.File(out, "r") as file:
        stored = file["attribution"][()]
    x, labels = _digits_inputs(LIMIT)
    model, _ = load_hf_folder(folder)
    expected = attribute(model, x, target=labels.tolist(), composite="attn_lrp")
    np.testing.assert_allclose(stored, expected.numpy(), rtol=1e-4, atol=1e-6)
    # the folder's weights, not fresh random ones
    direct = HFLogits(tiny_vit(), "pixel_values", last_position=False)
    with torch.no_grad():
        assert torch.equal(model(x), direct(x))


def _cli_error(tmp_path, capsys, spec: str) -> str:
    code = main(
        ["attribute", "--model", spec, "--data", "builtin:digits",
         "--data-out", str(tmp_path / "digits.h5"), "--composite", "attn_lrp", "--limit", "4",
         "--workers", "0", "--quiet", "--out", str(tmp_path / "out" / "a.h5")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    return err[0]


def test_a_folder_without_config_json_is_one_line_exit_2(tmp_path, capsys) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    assert "no config.json" in _cli_error(tmp_path, capsys, f"hf:{folder}")


def test_weights_that_do_not_fit_the_config_are_one_line_exit_2(tmp_path, capsys) -> None:
    folder = tmp_path / "vit"
    tiny_vit().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 48  # the saved MLP weights are 64 wide
    (folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    message = _cli_error(tmp_path, capsys, f"hf:{folder}")
    assert "the weights do not fit config.json (mismatched vit." in message


def test_token_relevance_sums_each_tokens_embedding_relevance() -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=30, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1,
    )  # fmt: skip
    lm = transformers.LlamaForCausalLM(config).eval()
    model = HFLogits(lm, "inputs_embeds", last_position=True)
    ids = torch.tensor([[3, 7, 1, 9]])
    per_token = token_relevance(model, lm.get_input_embeddings(), ids, target=5, composite="cp_lrp")
    assert per_token.shape == (1, 4)
    with torch.no_grad():
        logit = model(lm.get_input_embeddings()(ids))[0, 5]
    # CP-LRP on a bias-free LLaMA conserves: the tokens share the target logit
    assert abs(float(per_token.sum()) - float(logit)) <= 0.01 * abs(float(logit))
