"""``relscope attribute`` end to end: builtin digits and an image folder against direct in-memory
attribution, the project it writes, and bad inputs (one line, exit 2, nothing left behind).

Models come from tests/fixtures/relscope_test_models.py (seeded factories), importable through
PYTHONPATH in subprocesses and through sys.path in-process.
"""

from __future__ import annotations

import importlib.util

import h5py
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from relscope.core.attribution import attribute, get_composite
from relscope.core.cli.main import main
from relscope.core.data.project import read_project
from tests.attribution_support import assert_float32_paths_close
from tests.conftest import FIXTURES

LIMIT, BATCH = 40, 8


def _fixture_models():
    spec = importlib.util.spec_from_file_location(
        "relscope_test_models", FIXTURES / "relscope_test_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def models_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)


def _digits_inputs(count):
    """The first ``count`` digits as the model sees them, computed from sklearn directly."""
    bunch = load_digits()
    pixels = np.rint(bunch.images[:count] * (255 / 16)).astype(np.uint8)
    pixels = pixels.repeat(4, axis=1).repeat(4, axis=2)[:, None]
    return torch.from_numpy(pixels.astype(np.float32) / np.float32(255)), bunch.target[:count]


def _read(path):
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}, dict(file.attrs)


def test_digits_round_trip_matches_in_memory_attribution(tmp_path, models_on_path, capsys):
    out = tmp_path / "run" / "attribution.h5"
    code = main(
        ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data", "builtin:digits",
         "--composite", "epsilon_plus_flat", "--limit", str(LIMIT), "--batch-size", str(BATCH),
         "--workers", "0", "--quiet", "--out", str(out),
         "--project", str(tmp_path / "run" / "project.yaml")]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""  # --quiet: no progress bar
    data, attrs = _read(out)
    assert set(data) == {"attribution", "prediction", "label", "index"}  # a subset: index
    assert data["attribution"].shape == (LIMIT, 1, 32, 32)
    assert data["attribution"].dtype == np.float32
    assert data["prediction"].shape == (LIMIT, 10) and data["prediction"].dtype == np.float32
    x, labels = _digits_inputs(LIMIT)
    np.testing.assert_array_equal(data["label"], labels)
    np.testing.assert_array_equal(data["index"], np.arange(LIMIT))
    assert "relscope_config" in attrs

    model = _fixture_models().tiny_cnn().eval()
    expected = torch.cat(
        [
            attribute(model, x[i : i + BATCH], target=labels[i : i + BATCH].tolist(),
                      composite=get_composite("epsilon_plus_flat"))
            for i in range(0, LIMIT, BATCH)
        ]
    )  # fmt: skip
    assert_float32_paths_close(data["attribution"], expected.numpy())
    with torch.no_grad():
        assert_float32_paths_close(data["prediction"], model(x).numpy())

    # the project: relative paths, readable by the project and attribution readers
    text = yaml.safe_load((tmp_path / "run" / "project.yaml").read_text())["project"]
    assert text["label_map"] == "label-map.json"
    assert text["dataset"] == {"name": "digits", "type": "hdf5", "path": "digits.h5"}
    assert text["attributions"] == {
        "attribution_method": "epsilon_plus_flat",
        "attribution_strategy": "true_label",
        "sources": ["attribution.h5"],
    }
    project = read_project(tmp_path / "run" / "project.yaml")
    label_map = project.read_label_map()
    assert [e.name for e in label_map] == [str(d) for d in range(10)]
    inputs = project.open_inputs(label_map)
    assert len(inputs) == 1797
    attributions = project.open_attributions(label_map, inputs)
    assert list(attributions.indices) == list(range(LIMIT))
    np.testing.assert_array_equal(attributions.attribution(7), data["attribution"][7])
    np.testing.assert_array_equal(inputs.image(7)[..., 0], x[7, 0].numpy())


def test_image_folder_with_factory_normalisation_and_box_bounds(tmp_path, models_on_path, capsys):
    rng = np.random.default_rng(3)
    folder = tmp_path / "images"
    pictures = {}
    for cls in ("circle", "square"):
        (folder / cls).mkdir(parents=True)
        for k in range(3):
            pixels = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / cls / f"{k}.png")
            pictures[(cls, k)] = pixels
    out = tmp_path / "out" / "a.h5"
    code = main(
        ["attribute", "--model", "relscope_test_models:rgb_cnn", "--data", str(folder),
         "--composite", "epsilon_gamma_box", "--target", "prediction", "--batch-size", "4",
         "--workers", "0", "--quiet", "--out", str(out),
         "--project", str(tmp_path / "out" / "p.yaml")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data, _ = _read(out)
    assert set(data) == {"attribution", "prediction", "label"}  # the whole set: no index
    np.testing.assert_array_equal(data["label"], [0, 0, 0, 1, 1, 1])  # sorted class folders
    order = [("circle", 0), ("circle", 1), ("circle", 2), ("square", 0), ("square", 1),
             ("square", 2)]  # fmt: skip
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    raw = torch.from_numpy(np.stack([pictures[key] for key in order]).astype(np.float32) / 255)
    x = (raw.permute(0, 3, 1, 2) - mean) / std
    composite = get_composite("epsilon_gamma_box", low=(0 - mean) / std, high=(1 - mean) / std)
    model = _fixture_models().rgb_cnn().eval()
    expected = torch.cat([attribute(model, x[i : i + 4], composite=composite) for i in (0, 4)])
    assert_float32_paths_close(data["attribution"], expected.numpy())
    document = yaml.safe_load((tmp_path / "out" / "p.yaml").read_text())["project"]
    assert document["dataset"]["type"] == "image_directory"
    assert document["dataset"]["path"] == "../images"
    assert (document["dataset"]["input_width"], document["dataset"]["input_height"]) == (12, 12)
    assert document["attributions"]["attribution_strategy"] == "predicted_label"
    project = read_project(tmp_path / "out" / "p.yaml")
    inputs = project.open_inputs()
    assert [inputs.labels(i) for i in range(6)] == [[0], [0], [0], [1], [1], [1]]
    np.testing.assert_allclose(inputs.image(4), pictures[("square", 1)] / 255, atol=1e-6)
    assert len(project.open_attributions(inputs=inputs)) == 6


def _bad_h5(path, data):
    with h5py.File(path, "w") as file:
        file["data"] = data
        file["label"] = np.zeros(len(data), dtype=np.int64)
    return path


def _truncated(path):
    _bad_h5(path, np.zeros((40, 1, 32, 32), np.uint8))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


CASES = {
    "missing file": (lambda d: ["--data", str(d / "absent.h5")], "absent.h5: data not found"),
    "truncated hdf5": (
        lambda d: ["--data", str(_truncated(d / "cut.h5"))],
        "cut.h5: not a readable input HDF5 file",
    ),
    "wrong shapes": (
        lambda d: ["--data", str(_bad_h5(d / "rgb.h5", np.zeros((9, 3, 16, 16), np.uint8)))],
        "the model failed on samples 0..7: RuntimeError:",
    ),
    "unknown composite": (
        lambda d: ["--data", "builtin:digits", "--composite", "epsilon_nope"],
        "epsilon_nope",
    ),
    "factory raises": (
        lambda d: ["--data", "builtin:digits", "--model", "relscope_test_models:broken"],
        "the factory raised RuntimeError: checkpoint layout not understood",
    ),
    "torchvision without weights": (
        lambda d: ["--data", "builtin:digits", "--model", "torchvision:resnet18"],
        "no weights are downloaded",
    ),
    "indices out of range": (
        lambda d: ["--data", "builtin:digits", "--indices", "0:4,5000"],
        "--indices: sample 5000 is outside the data set of 1797 samples",
    ),
    "target beyond the outputs": (
        lambda d: [
            "--data",
            str(_bad_h5(d / "ok.h5", np.zeros((9, 1, 32, 32), np.uint8))),
            "--target",
            "12",
        ],  # fmt: skip
        "target class 12 is out of range",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_inputs_fail_in_one_line_with_exit_2_and_leave_nothing(
    tmp_path, models_on_path, capsys, case
):
    arguments, expected = CASES[case]
    inputs_dir = tmp_path / "inputs"
    inputs_dir.mkdir()
    out_dir = tmp_path / "out"
    defaults = {
        "--model": "relscope_test_models:tiny_cnn",
        "--composite": "epsilon_plus_flat",
    }
    given = arguments(inputs_dir)
    for flag, value in defaults.items():
        if flag not in given:
            given += [flag, value]
    code = main(["attribute", *given, "--workers", "0", "--quiet", "--batch-size", "8",
                 "--data-out", str(inputs_dir / "digits.h5"),
                 "--out", str(out_dir / "a.h5")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relscope: error: "), err
    assert expected in lines[0]
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_project_new_writes_yaml_and_label_map_and_checks_its_files(tmp_path, capsys):
    data = tmp_path / "data" / "in.h5"
    data.parent.mkdir()
    with h5py.File(data, "w") as file:
        file["data"] = np.zeros((4, 3, 8, 8), np.float32)
        file["label"] = np.array([0, 2, 1, 2])
    results = tmp_path / "results"
    results.mkdir()
    with h5py.File(results / "a.h5", "w") as file:
        file["attribution"] = np.ones((2, 3, 8, 8), np.float32)
        file["prediction"] = np.zeros((2, 3), np.float32)
        file["label"] = np.array([0, 1])
        file["index"] = np.array([0, 2], np.uint32)
    (results / "an.h5").write_bytes(b"")
    out = tmp_path / "proj" / "project.yaml"
    base = ["project", "new", "--data", str(data), "--model", "Net", "--name", "demo",
            "--attributions", str(results / "a.h5"), "--attribution-method", "epsilon",
            "--analysis", f"spectral={results / 'an.h5'}", "--out", str(out)]  # fmt: skip
    assert main(base) == 0, capsys.readouterr().err
    document = yaml.safe_load(out.read_text())["project"]
    assert document == {
        "name": "demo",
        "model": "Net",
        "label_map": "label-map.json",
        "dataset": {"name": "in", "type": "hdf5", "path": "../data/in.h5"},
        "attributions": {
            "attribution_method": "epsilon",
            "attribution_strategy": "true_label",
            "sources": ["../results/a.h5"],
        },
        "analyses": [{"analysis_method": "spectral", "sources": ["../results/an.h5"]}],
    }
    label_map = read_project(out).read_label_map()
    assert [(e.index, e.word_net_id) for e in label_map] == [
        (0, "00000000"),
        (1, "00000001"),
        (2, "00000002"),
    ]
    # attributions that point outside the data set: exit 2, nothing written
    with h5py.File(results / "a.h5", "a") as file:
        file["index"][1] = 9
    out2 = tmp_path / "proj2" / "project.yaml"
    assert main([*base[:-1], str(out2)]) == 2
    assert "key 'index' points at sample 9, outside the data set of 4 samples" in (
        capsys.readouterr().err
    )
    assert not out2.parent.exists() or list(out2.parent.iterdir()) == []


def test_n_hot_labels_through_a_project_attribute_every_label(tmp_path, models_on_path, capsys):
    """Target ``label`` with n-hot labels: the output relevance is one at every label, so (LRP
    being linear in the output relevance) the attribution is the sum of the single-label ones."""
    x, _ = _digits_inputs(6)
    n_hot = np.zeros((6, 10), dtype=bool)
    n_hot[[0, 0, 1, 2, 3, 4, 5, 5], [1, 3, 2, 9, 0, 4, 5, 7]] = True
    with h5py.File(tmp_path / "multi.h5", "w") as file:
        file["data"] = x.numpy()  # float in [0, 1], channels first
        file["label"] = n_hot
    (tmp_path / "lm.json").write_text(
        '[' + ",".join(f'{{"index": {i}, "word_net_id": "c{i}", "name": "n{i}"}}'
                       for i in range(10)) + "]"
    )  # fmt: skip
    (tmp_path / "p.yaml").write_text(
        "project:\n  name: multi\n  model: tiny\n  label_map: lm.json\n"
        "  dataset: {name: multi, type: hdf5, path: multi.h5}\n"
    )
    out = tmp_path / "out.h5"
    code = main(
        ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data", str(tmp_path / "p.yaml"),
         "--composite", "epsilon_plus_flat", "--batch-size", "3", "--workers", "0", "--quiet",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data, _ = _read(out)
    np.testing.assert_array_equal(data["label"], n_hot)
    model = _fixture_models().tiny_cnn().eval()
    composite = get_composite("epsilon_plus_flat")
    for row in range(6):
        expected = sum(
            attribute(model, x[row : row + 1], target=int(k), composite=composite)
            for k in np.flatnonzero(n_hot[row])
        )
        np.testing.assert_allclose(data["attribution"][row], expected[0].numpy(), rtol=1e-4,
                                   atol=1e-6)  # fmt: skip


def test_weights_file_is_loaded_into_the_factory_model(tmp_path, models_on_path, capsys):
    model = _fixture_models().tiny_cnn().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(-1.5)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "out.h5"
    code = main(
        ["attribute", "--model", "relscope_test_models:tiny_cnn", "--weights",
         str(tmp_path / "w.pt"), "--data", "builtin:digits", "--data-out",
         str(tmp_path / "digits.h5"), "--composite", "none", "--limit", "8", "--workers", "0",
         "--quiet", "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data, attrs = _read(out)
    x, labels = _digits_inputs(8)
    with torch.no_grad():
        assert_float32_paths_close(data["prediction"], model(x).numpy())
    gradient = attribute(model, x, target=labels.tolist())  # --composite none: plain gradient
    assert_float32_paths_close(data["attribution"], gradient.numpy())
    assert '"weights_file": "' in attrs["relscope_config"]
