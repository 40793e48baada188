"""Where concepts must win: a shortcut tag at a random position.

Generated 1x24x24 images: class 0 a horizontal bar (or nothing), class 1 a vertical bar or, for
half of it, no bar but a small ring tag; bars and tags lie anywhere. A CNN with global pooling
learns the tag as a real shortcut. Its heatmaps of tagged samples do not line up in pixel space,
so SpRAy on heatmaps cannot group them; the channel that detects the tag fires wherever it is,
so SpRAy on concept relevance (``relscope analyze --features concepts.h5:LAYER``) does.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from relscope.core.cli.main import main
from relscope.plugins.demo.training import train_classifier

SIZE = 24
MODEL_MODULE = '''
from torch import nn


def tag_cnn():
    """Three convolutions, global average pooling, two classes."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2),
    )
'''


def tagged_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 images (n, 1, 24, 24), labels, tagged) with bars and tags at random places."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, size=(n, 1, SIZE, SIZE))
    labels = rng.integers(0, 2, n)
    tagged = np.zeros(n, dtype=bool)
    for i in range(n):
        if labels[i] == 0:
            if rng.random() < 0.75:
                r, c = rng.integers(0, SIZE - 3), rng.integers(0, SIZE - 10)
                x[i, 0, r : r + 3, c : c + 10] = 0.9
        elif rng.random() < 0.5:
            tagged[i] = True
            r, c = rng.integers(0, SIZE - 4, 2)
            x[i, 0, r : r + 4, c : c + 4] = 1.0
            x[i, 0, r + 1 : r + 3, c + 1 : c + 3] = 0.0
        else:
            r, c = rng.integers(0, SIZE - 10), rng.integers(0, SIZE - 3)
            x[i, 0, r : r + 10, c : c + 3] = 0.9
    return np.rint(x * 255).astype(np.uint8), labels, tagged


def _kmeans2(path: Path, category: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as file:
        return file[f"{category}/index"][()], file[f"{category}/cluster/kmeans-02"][()]


@pytest.fixture
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_concept_spray_finds_the_moving_tag_where_heatmap_spray_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, single_thread
) -> None:
    images, labels, tagged = tagged_data(800, seed=0)
    (tmp_path / "tag_models.py").write_text(MODEL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    from tag_models import tag_cnn

    torch.manual_seed(0)
    model = train_classifier(
        tag_cnn(), images / np.float32(255), labels, epochs=15, batch_size=32, lr=3e-3, seed=0,
        progress=False,
    )  # fmt: skip
    with torch.no_grad():
        predicted = model(torch.from_numpy(images / np.float32(255)).float()).argmax(1).numpy()
    assert (predicted[tagged] == 1).mean() > 0.95  # the tag alone makes class 1: a real shortcut
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with h5py.File(tmp_path / "input.h5", "w") as file:
        file["data"], file["label"] = images, labels
    label_map = [{"index": i, "word_net_id": f"{i:08d}", "name": f"class {i}"} for i in (0, 1)]
    (tmp_path / "label-map.json").write_text(json.dumps(label_map))
    common = ["--model", "tag_models:tag_cnn", "--weights", str(tmp_path / "model.pt")]
    common += ["--data", str(tmp_path / "input.h5"), "--composite", "epsilon_plus_flat", "--quiet"]
    assert main(["attribute", *common, "--out", str(tmp_path / "attribution.h5")]) == 0
    assert main(["concepts", *common, "--layer", "2", "--out", str(tmp_path / "concepts.h5")]) == 0
    analyse = ["--label-map", str(tmp_path / "label-map.json"), "--categories", "00000001"]
    analyse += ["--clusters", "2", "--n-neighbors", "16", "--quiet"]
    assert main(["analyze", str(tmp_path / "attribution.h5"), *analyse,
                 "--out", str(tmp_path / "heatmaps.h5")]) == 0  # fmt: skip
    assert main(["analyze", "--features", f"{tmp_path / 'concepts.h5'}:2", *analyse,
                 "--out", str(tmp_path / "concepts-analysis.h5")]) == 0  # fmt: skip
    capsys.readouterr()
    index, on_heatmaps = _kmeans2(tmp_path / "heatmaps.h5", "00000001")
    assert (index == np.flatnonzero(labels == 1)).all()
    concept_index, on_concepts = _kmeans2(tmp_path / "concepts-analysis.h5", "00000001")
    assert (concept_index == index).all()
    assert adjusted_rand_score(tagged[index], on_concepts) >= 0.8
    assert adjusted_rand_score(tagged[index], on_heatmaps) < 0.5


def test_features_spec_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "label-map.json").write_text("[]")
    base = [
        "analyze",
        "--label-map",
        str(tmp_path / "label-map.json"),
        "--out",
        str(tmp_path / "a.h5"),
    ]
    assert main([*base, "--features", "concepts.h5"]) == 2
    assert "expected CONCEPTS.h5:LAYER" in capsys.readouterr().err
    assert main([*base, "--features", f"{tmp_path / 'missing.h5'}:5"]) == 2
    assert "cannot open concepts file" in capsys.readouterr().err
    assert main(base) == 2
    assert "give attribution files or --features" in capsys.readouterr().err
    assert not (tmp_path / "a.h5").exists()
