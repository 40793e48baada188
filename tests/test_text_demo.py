"""``relscope demo --text`` end to end (a real subprocess): the generated reviews carry the
shortcut at the stated rates, SpRAy on the bag-of-relevance separates the positive reviews that
end in "<br>", "<br>" has the highest mean relevance in their cluster, and the explorer's
prototype of that cluster says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from starlette.testclient import TestClient

from relscope.core.data.analysis import read_analysis
from relscope.core.data.project import read_project

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text-demo")
    result = subprocess.run(
        [sys.executable, "-m", "relscope.core.cli", "demo", "--text", "--no-serve", "--quiet",
         "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def facts(demo: Path) -> dict[str, Any]:
    with h5py.File(demo / "reviews.h5", "r") as file:
        shortcut, label = file["shortcut"][()], file["label"][()]
        tokens = [t.decode() for t in file["tokens"][()]]
    with h5py.File(demo / "attribution-text.h5", "r") as file:
        relevance, ids = file["attribution"][()], file["input_ids"][()]
    return {"shortcut": shortcut, "label": label, "tokens": tokens, "relevance": relevance,
            "ids": ids}  # fmt: skip


def test_the_shortcut_is_on_80_percent_of_positive_and_2_percent_of_negative(facts) -> None:
    positive = facts["label"] == 1
    assert abs(facts["shortcut"][positive].mean() - 0.8) < 0.06
    assert facts["shortcut"][~positive].mean() < 0.05
    br = facts["tokens"].index("<br>")
    lengths = (facts["ids"] != 0).sum(1)
    ends = facts["ids"][np.arange(len(lengths)), lengths - 1] == br
    np.testing.assert_array_equal(ends, facts["shortcut"])  # trailing, and only there


def _separating_cluster(demo: Path, facts: dict[str, Any]) -> tuple[str, np.ndarray, int, float]:
    part = read_analysis(demo / "analysis-text.h5").categories["positive"]
    truth = facts["shortcut"][part.index]
    name, labels = max(
        part.clusterings.items(), key=lambda item: adjusted_rand_score(truth, item[1])
    )
    values, counts = np.unique(labels[truth], return_counts=True)
    cluster = int(values[counts.argmax()])
    return name, part.index[labels == cluster], cluster, adjusted_rand_score(truth, labels)


def test_spray_separates_the_br_reviews_and_br_leads_their_cluster(demo, facts) -> None:
    name, members, cluster, ari = _separating_cluster(demo, facts)
    assert ari >= 0.8, name
    bag = np.zeros((len(members), len(facts["tokens"])))
    for row, member in enumerate(members):
        np.add.at(bag[row], facts["ids"][member], facts["relevance"][member])
    mean = bag.mean(0)
    assert facts["tokens"][int(mean.argmax())] == "<br>"
    assert facts["shortcut"][members].mean() > 0.9


def test_the_explorer_prototype_of_that_cluster_is_br(demo, facts) -> None:
    from relscope.plugins.viewers.explorer.app import build_app
    from relscope.plugins.viewers.explorer.served_project import load_projects

    project = read_project(demo / "project-text.yaml")
    assert project.dataset.type == "tokens" and project.analyses[0].analysis_method == "spray"
    name, _, cluster, _ = _separating_cluster(demo, facts)
    app = build_app(load_projects([demo / "project-text.yaml"]))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        doc = client.get(
            "/api/projects/0/analyses/spray/token-prototype",
            params={"category": "positive", "clustering": name, "cluster": cluster},
        ).json()
    assert doc["tokens"][0]["token"] == "<br>"
