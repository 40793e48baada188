"""``relscope attribute`` runs that can be trusted: random weights seeded from ``--seed``, a resume
that checks every stored batch (digest and samples) and recomputes the bad ones, temporaries of a
killed writer cleaned up, and grey images fed to a 3-channel model."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from relscope.core.cli.main import main
from tests.conftest import FIXTURES

COUNT, BATCH = 48, 8  # six batches


def _arguments(out: Path, *extra: str, model: str = "relscope_test_models:tiny_cnn") -> list[str]:
    return ["attribute", "--model", model, "--data", "builtin:digits",
            "--data-out", str(out.parent.parent / "digits.h5"), "--composite", "epsilon_plus_flat",
            "--limit", str(COUNT), "--batch-size", str(BATCH), "--workers", "0", "--quiet",
            "--out", str(out), *extra]  # fmt: skip


def _read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}


def _assert_same(result: dict, reference: dict) -> None:
    assert set(result) == set(reference)
    for key in reference:
        assert result[key].dtype == reference[key].dtype
        assert np.array_equal(result[key], reference[key]), key  # bit for bit


@pytest.fixture()
def models(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)
    monkeypatch.delenv("RELSCOPE_TEST_INTERRUPT_AFTER", raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "run" / "attribution.h5"
    sys.path.insert(0, str(FIXTURES))
    try:
        assert main(_arguments(out)) == 0
    finally:
        sys.path.remove(str(FIXTURES))
    return _read(out)


def _interrupted(models, out: Path, after: int = 6, **kwargs: str) -> Path:
    """An in-process run stopped by Ctrl-C at forward pass ``after``: batches 0..after-2 stored."""
    models.setenv("RELSCOPE_TEST_INTERRUPT_AFTER", str(after))
    assert main(_arguments(out, **kwargs)) == 130
    models.delenv("RELSCOPE_TEST_INTERRUPT_AFTER")
    partial = out.with_name(out.name + ".partial")
    assert len(list(partial.glob("batch-*.npz"))) == after - 1
    return partial


def test_a_misplaced_batch_is_found_and_recomputed(models, tmp_path, reference, capsys) -> None:
    out = tmp_path / "run" / "attribution.h5"
    partial = _interrupted(models, out)
    shutil.copyfile(partial / "batch-000001.npz", partial / "batch-000003.npz")
    # and the manifest agrees with the copy: only the stored sample indices can tell
    digest = hashlib.sha256((partial / "batch-000003.npz").read_bytes()).hexdigest()
    with open(partial / "manifest.txt", "a") as manifest:
        manifest.write(f"000003 {digest}\n")
    capsys.readouterr()
    assert main(_arguments(out, "--resume")) == 0
    err = capsys.readouterr().err
    assert "batch 3 (holds the samples of another batch)" in err and err.count("recomputing") == 1
    _assert_same(_read(out), reference)


def test_corrupted_batches_are_recomputed_in_one_resume(models, tmp_path, reference, capsys):
    out = tmp_path / "run" / "attribution.h5"
    partial = _interrupted(models, out)
    truncated = partial / "batch-000002.npz"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    flipped = partial / "batch-000004.npz"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    copied = partial / "batch-000001.npz"
    shutil.copyfile(partial / "batch-000000.npz", copied)  # the manifest still has batch 1's
    capsys.readouterr()
    assert main(_arguments(out, "--resume")) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "recomputing" in line]
    assert lines == [
        f"relscope: {partial}: recomputing 3 damaged stored batches: batch 1 (digest mismatch), "
        "batch 2 (digest mismatch), batch 4 (digest mismatch)"
    ]
    _assert_same(_read(out), reference)
    assert not partial.exists()


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_run(models, tmp_path, reference):
    out = tmp_path / "run" / "attribution.h5"
    killed = textwrap.dedent(f"""
        import os, signal
        from relscope.core.data.atomic import atomic_path
        with atomic_path({str(out)!r}) as temp:
            temp.write_bytes(b"half an HDF5 file")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", killed], timeout=60)
    assert done.returncode == -9
    stale = list(out.parent.glob(".attribution.h5.*.tmp"))
    assert len(stale) == 1
    other = out.parent / ".other.h5.1-abcd.tmp"  # another output's temporary stays
    other.write_bytes(b"x")
    assert main(_arguments(out)) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [".other.h5.1-abcd.tmp", out.name]
    _assert_same(_read(out), reference)


def test_random_weights_follow_the_seed_and_resume(models, tmp_path, capsys) -> None:
    model = "relscope_test_models:unseeded_cnn"
    runs = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        out = tmp_path / name / "attribution.h5"
        assert main(_arguments(out, "--seed", seed, model=model)) == 0
        runs[name] = _read(out)
    _assert_same(runs["b"], runs["a"])
    assert not np.array_equal(runs["c"]["prediction"], runs["a"]["prediction"])
    out = tmp_path / "cut" / "attribution.h5"
    _interrupted(models, out, after=3, model=model)
    models.setenv("RELSCOPE_TEST_INTERRUPT_AFTER", "0")
    capsys.readouterr()
    assert main(_arguments(out, "--seed", "5", "--resume", model=model)) == 2  # other weights
    assert "differs in: model_state" in capsys.readouterr().err  # (seed 0 is the default)
    assert main(_arguments(out, "--resume", model=model)) == 0
    assert main(_arguments(tmp_path / "whole" / "attribution.h5", model=model)) == 0
    _assert_same(_read(out), _read(tmp_path / "whole" / "attribution.h5"))


def test_grey_images_are_repeated_for_a_three_channel_model(models, tmp_path, capsys) -> None:
    import torch

    from relscope.core.data.inputs import Hdf5Inputs
    from relscope.core.model_loading import IMAGENET_MEAN, IMAGENET_STD, load_model_spec

    out = tmp_path / "run" / "attribution.h5"
    command = ["attribute", "--model", "torchvision:resnet18", "--random-weights", "--data",
               "builtin:digits", "--data-out", str(tmp_path / "digits.h5"), "--input-size",
               "32x32", "--composite", "none", "--attributor", "gradient", "--limit", "8",
               "--seed", "5", "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    assert "grey images repeated to 3 channels for torchvision:resnet18" in capsys.readouterr().err
    stored = _read(out)
    assert stored["attribution"].shape == (8, 3, 32, 32)
    # the replica: the same seeded weights, each grey image copied into R, G and B, normalised
    model = load_model_spec("torchvision:resnet18", seed=5).model
    with Hdf5Inputs(tmp_path / "digits.h5") as inputs:
        grey = np.stack([inputs.image(i) for i in range(8)]).transpose(0, 3, 1, 2)
    rgb = torch.from_numpy(np.repeat(grey, 3, axis=1))
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    with torch.no_grad():
        expected = model((rgb - mean) / std).numpy()
    np.testing.assert_allclose(stored["prediction"], expected, rtol=1e-4, atol=1e-5)
