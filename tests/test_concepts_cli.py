"""``relscope concepts`` end to end: builtin digits against the API, the project it references,
resume, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from relscope.core import concept_relevance
from relscope.core.cli.main import main
from relscope.core.concepts.concepts_file import ConceptsFile
from relscope.core.data.project import read_project
from tests.conftest import FIXTURES
from tests.test_attribute_cli import _digits_inputs, _fixture_models

LIMIT = 24
ARGS = ["--model", "relscope_test_models:tiny_cnn", "--data", "builtin:digits", "--random-weights"]


@pytest.fixture
def models_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)


def test_concepts_of_two_layers_match_the_api(tmp_path, models_on_path, capsys) -> None:
    out, project = tmp_path / "concepts.h5", tmp_path / "project.yaml"
    argv = ["concepts", *ARGS, "--composite", "epsilon_plus_flat", "--layer", "1", "--layer", "4"]
    argv += ["--limit", str(LIMIT), "--batch-size", "10", "--top-k", "4", "--out", str(out)]
    code = main([*argv, "--project", str(project), "--quiet"])
    assert code == 0, capsys.readouterr().err
    model = _fixture_models().tiny_cnn().eval()
    x, labels = _digits_inputs(LIMIT)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(labels), 10).float()
    rel = concept_relevance(  # relevance starts at the target's logit (--init logit, as CRP)
        model, x, target=lambda out: onehot * out.detach(), composite="epsilon_plus_flat",
        layer=["1", "4"],
    )  # fmt: skip
    with ConceptsFile(out) as concepts:
        assert concepts.layers == ["1", "4"]
        assert concepts.label.tolist() == labels.tolist()
        for layer, channels in (("1", 4), ("4", 8)):
            stored = concepts.relevance(layer)
            assert stored.shape == (LIMIT, channels)
            assert np.allclose(stored, rel[layer].numpy(), atol=1e-5)
            refs = concepts.references(layer, "relmax")
            assert refs.heatmap.shape == (channels, 4, 32, 32)
            assert (refs.index == np.argsort(-stored, axis=0, kind="stable")[:4].T).all()
    document = yaml.safe_load(project.read_text())
    assert document["project"]["concepts"] == {"sources": ["concepts.h5"]}
    assert read_project(project).concepts == [out]
    # a second call with --resume finds the output complete and leaves it alone
    before = out.stat().st_mtime_ns
    assert main([*argv, "--resume", "--quiet"]) == 0
    assert "already complete" in capsys.readouterr().out and out.stat().st_mtime_ns == before


def test_unknown_layer_is_one_line_and_writes_nothing(tmp_path, models_on_path, capsys) -> None:
    out = tmp_path / "concepts.h5"
    argv = ["concepts", *ARGS, "--composite", "epsilon_plus_flat", "--layer", "features.13"]
    code = main([*argv, "--limit", "4", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown layer 'features.13'; the model's layers are: 0, 1, 2, 3, 4" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.h5"]  # the builtin data only
