"""The concepts run over a data-set file: channel relevances, top-k references, conditional maps."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from relscope.core import attribute, concept_relevance
from relscope.core.attribution import Gradient, get_composite
from relscope.core.concepts.concepts_file import ConceptsFile
from relscope.core.concepts.region import support_box
from relscope.core.concepts.top_k import TopK
from relscope.core.data.inputs import open_inputs
from relscope.core.errors import AttributionError
from relscope.core.runs.batch_loop import Batching
from relscope.core.runs.concepts_run import concepts_dataset


def gray_cnn(seed: int = 0) -> nn.Module:
    """A bias-free 1x8x8 CNN: two convolutions (4 and 6 channels), global pooling, 3 classes."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3, bias=False),
    ).eval()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "input.h5"
    with h5py.File(path, "w") as file:
        file["data"] = rng.integers(0, 256, size=(23, 1, 8, 8), dtype=np.uint8)
        file["label"] = rng.integers(0, 3, size=23)
    return path


def test_top_k_keeps_the_best_of_a_stream() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(50, 5))
    buffer = TopK(5, 4)
    for start in range(0, 50, 7):
        buffer.update(scores[start : start + 7], np.arange(start, min(start + 7, 50)))
    values, indices = buffer.result()
    expected = np.argsort(-scores, axis=0)[:4].T
    assert (indices == expected).all() and np.allclose(
        values, np.take_along_axis(scores.T, expected, 1)
    )
    assert buffer.values.shape == (5, 4)  # never more than k kept
    short = TopK(2, 3)
    short.update(np.array([[1.0, 2.0]]), np.array([9]))
    assert short.result()[1].tolist() == [[9, -1, -1], [9, -1, -1]]


def test_support_box_encloses_the_strong_pixels() -> None:
    heat = np.zeros((10, 12))
    heat[3, 4], heat[6, 9], heat[0, 0] = 1.0, -0.5, 0.05  # 0.05 < 10 % of the peak
    assert support_box(heat, margin=0) == (3, 7, 4, 10)
    assert support_box(heat, margin=1) == (2, 8, 3, 11)
    assert support_box(np.zeros((4, 5))) == (0, 4, 0, 5)


def test_concepts_run_matches_the_api_sample_by_sample(data_file: Path, tmp_path: Path) -> None:
    # float32 throughout, like the file (tolerances float32 meets)
    model = gray_cnn()
    inputs = open_inputs(data_file)
    out = tmp_path / "concepts.h5"
    attributor = Gradient(model, get_composite("epsilon_plus_flat"))
    result = concepts_dataset(
        attributor,
        inputs,
        out,
        ["0", "2"],
        {"test": 1},
        batching=Batching(batch_size=5),
        top_k=3,
        init="one",
    )
    assert result.attributed == 23 and not (tmp_path / "concepts.h5.partial").exists()
    x = torch.from_numpy(np.stack([inputs.image(i).transpose(2, 0, 1) for i in range(23)]))
    labels = [inputs.labels(i)[0] for i in range(23)]
    rel = concept_relevance(
        model, x, target=labels, composite="epsilon_plus_flat", layer=["0", "2"]
    )
    with ConceptsFile(out) as concepts:
        assert concepts.index.tolist() == list(range(23)) and concepts.label.tolist() == labels
        for layer in ("0", "2"):
            stored = concepts.relevance(layer)
            assert np.allclose(stored, rel[layer].numpy(), atol=1e-5)
            act = model[: int(layer) + 1](x).amax((2, 3)).detach().numpy()
            assert np.allclose(concepts.activation(layer), act, atol=1e-5)
            for kind, score in (("relmax", stored), ("actmax", concepts.activation(layer))):
                refs = concepts.references(layer, kind)
                assert (refs.index == np.argsort(-score, axis=0, kind="stable")[:3].T).all()
        refs = concepts.references("2", "relmax")
    # each reference heatmap: the conditional heatmap from the output, carrying its relevance
    for c in range(6):
        for j in range(3):
            i = int(refs.index[c, j])
            heat = attribute(
                model,
                x[i : i + 1],
                target=labels[i],
                composite="epsilon_plus_flat",
                conditions={"2": [c]},
            )[0, 0].numpy()
            assert np.allclose(refs.heatmap[c, j], heat, atol=1e-5)
            assert abs(refs.heatmap[c, j].sum() - refs.value[c, j]) < 1e-4 * max(
                1.0, abs(refs.value[c, j])
            )
            assert tuple(refs.box[c, j]) == support_box(heat)


def test_bad_layer_writes_nothing(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "concepts.h5"
    attributor = Gradient(gray_cnn(), get_composite("epsilon_plus_flat"))
    with pytest.raises(
        AttributionError, match=r"unknown layer 'conv9'; the model's layers are: 0, 1"
    ):
        concepts_dataset(attributor, open_inputs(data_file), out, ["conv9"], {})
    with pytest.raises(AttributionError, match=r"layer '7'.*not channel-shaped"):
        flat = nn.Sequential(*gray_cnn(), nn.Flatten(0))
        concepts_dataset(Gradient(flat, None), open_inputs(data_file), out, ["7"], {}, target=0)
    assert list(tmp_path.iterdir()) == [tmp_path / "input.h5"]
