"""The processor-plugin tutorial works as written: its code is run verbatim as a loose plugin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from relscope.core.data.analysis import read_analysis
from relscope.core.plugin_manager import get_plugin_manager
from tests.conftest import REPO_ROOT, run_relscope

TUTORIAL = REPO_ROOT / "docs" / "tutorial-processor-plugin.md"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    (code,) = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "clip_preprocess.py").write_text(code)
    return folder


def test_the_tutorial_processor_clips_and_normalises(plugin_dir: Path) -> None:
    registry = get_plugin_manager(plugins_dir=plugin_dir).registry("processors")
    clip = registry.lookup("clip_preprocess")(q=50.0)
    features = clip.function(np.array([[[[1.0, -2.0], [3.0, 100.0]]]]))
    # |R| = 1, 2, 3, 100 -> 50th percentile 2.5 -> [1, -2, 2.5, 2.5], then unit length
    expected = np.array([1.0, -2.0, 2.5, 2.5]) / np.sqrt(1 + 4 + 6.25 + 6.25)
    np.testing.assert_allclose(features[0], expected)


def test_the_tutorial_commands_run(plugin_dir: Path, tmp_path: Path) -> None:
    env = {"RELSCOPE_PLUGINS_DIR": str(plugin_dir)}
    listed = json.loads(run_relscope("list", "processors", "--json", env=env).stdout)
    assert any(
        e["name"] == "clip_preprocess" and e["plugin"] == "file:clip_preprocess" for e in listed
    )

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(2), 40)
    maps = rng.normal(size=(80, 1, 8, 8)).astype(np.float32)
    maps[labels == 1, :, :3, :3] += 4.0  # a corner artefact in half of category 1
    with h5py.File(tmp_path / "attribution.h5", "w") as file:
        file["attribution"] = maps
        file["prediction"] = np.eye(2, dtype=np.float32)[labels]
        file["label"] = labels
    (tmp_path / "label-map.json").write_text(
        json.dumps([{"index": i, "word_net_id": f"{i:08d}", "name": str(i)} for i in range(2)])
    )
    result = run_relscope(
        "analyze", str(tmp_path / "attribution.h5"),
        "--label-map", str(tmp_path / "label-map.json"),
        "--task", "preprocess=clip_preprocess",
        "--clusters", "2..3", "--n-eigval", "4", "--n-neighbors", "8", "--quiet",
        "--out", str(tmp_path / "analysis-clipped.h5"),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    analysis = read_analysis(tmp_path / "analysis-clipped.h5")
    assert sorted(analysis.categories) == ["00000000", "00000001"]
    assert {"kmeans-02", "kmeans-03"} <= set(analysis.categories["00000001"].clusterings)
