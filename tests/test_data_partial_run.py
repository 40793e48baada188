"""The partial-run folder of resumable runs, and the builtin:digits input file."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from sklearn.datasets import load_digits

from relscope.core.data.inputs import open_inputs
from relscope.core.errors import ResumeError
from relscope.core.runs.partial_run import PartialRun, config_differences, config_hash
from relscope.plugins.demo.digits import write_digits

CONFIG = {"model": "m", "batch_size": 4, "composite": {"name": "epsilon", "params": {"eps": 1e-6}}}


def _batch(value):
    return {"attribution": np.full((2, 1, 2, 2), value, np.float32), "index": np.array([1, 2])}


def test_batches_are_counted_only_while_consecutive(tmp_path):
    run = PartialRun(tmp_path / "out.h5", CONFIG)
    assert not run.exists() and run.completed_batches() == 0
    run.write_batch(0, _batch(0.0))
    run.write_batch(1, _batch(1.0))
    run.write_batch(3, _batch(3.0))  # batch 2 missing: 3 does not count
    assert run.exists() and run.completed_batches() == 2
    assert json.loads((run.dir / "config.json").read_text()) == CONFIG
    (run.dir / ".batch-000002.npz.123-abcd.tmp").write_bytes(b"half")
    run.tidy(keep=2)
    assert sorted(p.name for p in run.dir.iterdir()) == [
        "batch-000000.npz",
        "batch-000001.npz",
        "config.json",
    ]
    values = [batch["attribution"][0, 0, 0, 0] for batch in run.batches(2)]
    assert values == [0.0, 1.0]


def test_resume_is_refused_for_another_configuration(tmp_path):
    PartialRun(tmp_path / "out.h5", CONFIG).write_batch(0, _batch(0.0))
    same = PartialRun(tmp_path / "out.h5", json.loads(json.dumps(CONFIG)))
    same.check_same_config()
    other = PartialRun(tmp_path / "out.h5", {**CONFIG, "batch_size": 8})
    with pytest.raises(ResumeError, match=r"different configuration \(differs in: batch_size\)"):
        other.check_same_config()
    assert config_differences(CONFIG, {**CONFIG, "model": "n", "x": 1}) == ["model", "x"]
    assert config_hash(CONFIG) == config_hash(dict(reversed(list(CONFIG.items()))))
    assert config_hash(CONFIG) != config_hash({**CONFIG, "batch_size": 8})


def test_finish_assembles_then_removes_the_folder(tmp_path):
    run = PartialRun(tmp_path / "out.h5", CONFIG)
    run.write_batch(0, _batch(5.0))
    seen = []
    run.finish(1, lambda batches: seen.extend(b["attribution"].sum() for b in batches))
    assert seen == [40.0] and not run.dir.exists()


def test_digits_file_matches_sklearn_upscaled(tmp_path):
    path = write_digits(tmp_path / "digits.h5")
    reference = load_digits()
    with h5py.File(path, "r") as file:
        data, label = file["data"][()], file["label"][()]
    assert data.shape == (1797, 1, 32, 32) and data.dtype == np.uint8
    np.testing.assert_array_equal(label, reference.target)
    # each 8x8 pixel (0..16) became a 4x4 block of round(v * 255 / 16)
    sample = 123
    block = data[sample, 0, 4 * 2 : 4 * 3, 4 * 5 : 4 * 6]
    assert (block == round(reference.images[sample, 2, 5] * 255 / 16)).all()
    assert data.max() == 255 and data.min() == 0
    inputs = open_inputs(path)
    np.testing.assert_allclose(inputs.image(sample)[..., 0], data[sample, 0] / 255.0, rtol=1e-6)
    stamp = path.stat().st_mtime_ns
    write_digits(path)  # an identical file is reused, not rewritten
    assert path.stat().st_mtime_ns == stamp
