"""``relscope attribute --model hf:<folder> --data tokens.h5 --composite attn_lrp``: per-token
relevance of padded batches equals each sample attributed alone without padding; masked positions
are zero; causal LMs explain the data's next token; an interrupted run resumes to the same file;
bad combinations are one line, exit 2, nothing written."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from relscope.core.attribution import attribute
from relscope.core.cli.main import main
from relscope.core.data.tokens import write_token_file
from relscope.core.runs.batch_loop import Batching
from relscope.core.runs.dataset_attribution import DatasetAttribution
from relscope.core.runs.specs import DataSpec, ModelSpec

transformers = pytest.importorskip("transformers")

VOCAB = [f"w{i}" for i in range(30)]
LENGTHS = [7, 4, 9, 2, 9, 5, 3, 8]  # padded to 9; batches of 3 mix lengths


def token_data(path, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random ids (1..29, 0 = padding) of LENGTHS, right-padded, labels alternating."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(LENGTHS), max(LENGTHS)), dtype=np.int64)
    for row, length in enumerate(LENGTHS):
        ids[row, :length] = rng.integers(1, len(VOCAB), length)
    mask = (np.arange(ids.shape[1])[None] < np.asarray(LENGTHS)[:, None]).astype(np.uint8)
    write_token_file(path, ids, mask, np.arange(len(LENGTHS)) % 2, VOCAB)
    return ids, mask


def tiny_bert(folder) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
    )  # fmt: skip
    transformers.BertForSequenceClassification(config).eval().save_pretrained(folder)


def tiny_llama(folder) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)


def _attribute(tmp_path, folder, *extra) -> int:
    return main(
        ["attribute", "--model", f"hf:{folder}", "--data", str(tmp_path / "tokens.h5"),
         "--composite", "attn_lrp", "--batch-size", "3", "--workers", "0", "--quiet",
         "--out", str(tmp_path / "out" / "attribution.h5"), *extra]
    )  # fmt: skip


def _read(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}


class Alone(torch.nn.Module):
    """One unpadded sample: embeddings -> logits (a causal LM: at ``position``)."""

    def __init__(self, model, position=None) -> None:
        super().__init__()
        self.model, self.position = model, position

    def forward(self, x):
        logits = self.model(inputs_embeds=x).logits
        return logits if self.position is None else logits[:, self.position]


def test_padded_batches_of_a_classifier_equal_each_sample_alone(tmp_path, capsys) -> None:
    ids, mask = token_data(tmp_path / "tokens.h5")
    tiny_bert(tmp_path / "bert")
    assert _attribute(tmp_path, tmp_path / "bert") == 0, capsys.readouterr().err
    stored = _read(tmp_path / "out" / "attribution.h5")
    assert stored["attribution"].shape == ids.shape and stored["attribution"].dtype == np.float32
    np.testing.assert_array_equal(stored["input_ids"], ids)
    assert (stored["attribution"][mask == 0] == 0).all()
    bert = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "bert").eval()
    for row, length in enumerate(LENGTHS):
        embedded = bert.get_input_embeddings()(torch.as_tensor(ids[row : row + 1, :length]))
        label = row % 2
        relevance = attribute(Alone(bert), embedded.detach(), target=label, composite="attn_lrp")
        expected = relevance.sum(-1)[0].numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(stored["attribution"][row, :length], expected, atol=1e-4 * scale)
        with torch.no_grad():
            logits = Alone(bert)(embedded)[0].numpy()
        np.testing.assert_allclose(stored["prediction"][row], logits, atol=1e-5)


def test_a_causal_lm_explains_the_datas_next_token(tmp_path, capsys) -> None:
    ids, mask = token_data(tmp_path / "tokens.h5")
    tiny_llama(tmp_path / "llama")
    code = _attribute(tmp_path, tmp_path / "llama", "--target", "next-token")
    assert code == 0, capsys.readouterr().err
    stored = _read(tmp_path / "out" / "attribution.h5")
    lm = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "llama").eval()
    assert stored["prediction"].shape == (len(LENGTHS), len(VOCAB))
    for row, length in enumerate(LENGTHS):
        # the prefix predicts the last token: position length-2 towards id ids[row, length-1]
        embedded = lm.get_input_embeddings()(torch.as_tensor(ids[row : row + 1, : length - 1]))
        relevance = attribute(
            Alone(lm, length - 2), embedded.detach(), target=int(ids[row, length - 1]),
            composite="attn_lrp",
        )  # fmt: skip
        expected = relevance.sum(-1)[0].numpy()
        scale = np.abs(expected).max()
        got = stored["attribution"][row]
        np.testing.assert_allclose(got[: length - 1], expected, atol=1e-4 * scale)
        assert (got[length - 1 :] == 0).all()  # the target token itself and the padding


def test_an_interrupted_token_run_resumes_to_the_uninterrupted_file(tmp_path, capsys) -> None:
    token_data(tmp_path / "tokens.h5")
    tiny_bert(tmp_path / "bert")
    assert _attribute(tmp_path, tmp_path / "bert") == 0
    reference = _read(tmp_path / "out" / "attribution.h5")
    (tmp_path / "out" / "attribution.h5").unlink()
    spec = DatasetAttribution(
        model=ModelSpec(f"hf:{tmp_path / 'bert'}"),
        data=DataSpec(str(tmp_path / "tokens.h5")),
        out=tmp_path / "out" / "attribution.h5",
        composite="attn_lrp",
        batching=Batching(batch_size=3),
    )
    prepared = spec.prepare()
    calls = []

    def stop_at_the_second_batch(module, args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    prepared.model.model.register_forward_pre_hook(stop_at_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        prepared.run(progress=False)
    partial = tmp_path / "out" / "attribution.h5.partial"
    assert (partial / "batch-000000.npz").exists() and not (
        tmp_path / "out" / "attribution.h5"
    ).exists()
    capsys.readouterr()
    assert _attribute(tmp_path, tmp_path / "bert", "--resume") == 0
    resumed = _read(tmp_path / "out" / "attribution.h5")
    assert sorted(resumed) == sorted(reference)
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        ("bert", ["--target", "next-token"], "--target next-token: needs a causal language model"),
        (
            "torchvision:resnet18",
            ["--random-weights"],
            "token data needs a text model given as hf:",
        ),
    ],
)
def test_bad_token_runs_are_one_line_and_write_nothing(tmp_path, capsys, model, extra, expected):
    token_data(tmp_path / "tokens.h5")
    tiny_bert(tmp_path / "bert")
    spec = tmp_path / "bert" if model == "bert" else model
    capsys.readouterr()
    code = main(
        ["attribute", "--model", str(spec) if model != "bert" else f"hf:{spec}",
         "--data", str(tmp_path / "tokens.h5"), "--composite", "attn_lrp", "--workers", "0",
         "--quiet", "--out", str(tmp_path / "out" / "attribution.h5"), *extra]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_two_torchrun_ranks_equal_a_single_process_token_run(tmp_path) -> None:
    import subprocess
    import sys

    token_data(tmp_path / "tokens.h5")
    tiny_bert(tmp_path / "bert")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like each torchrun rank
    try:
        assert _attribute(tmp_path, tmp_path / "bert", "--indices", "0:7") == 0
    finally:
        torch.set_num_threads(threads)
    with h5py.File(tmp_path / "out" / "attribution.h5", "r") as file:
        reference = {key: file[key][()] for key in file}
        reference_hash = file.attrs["relscope_config_hash"]
    out = tmp_path / "dist" / "attribution.h5"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "relscope.core.cli", "attribute", "--model", f"hf:{tmp_path / 'bert'}",
         "--data", str(tmp_path / "tokens.h5"), "--composite", "attn_lrp", "--indices", "0:7",
         "--batch-size", "3", "--workers", "0", "--quiet", "--distributed", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as file:
        joined = {key: file[key][()] for key in file}
        assert file.attrs["relscope_config_hash"] == reference_hash
    assert sorted(joined) == sorted(reference)  # input_ids included
    for key in reference:
        np.testing.assert_array_equal(joined[key], reference[key], err_msg=key)
