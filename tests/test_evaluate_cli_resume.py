"""Interrupting ``relscope evaluate`` (a real subprocess receiving SIGINT or SIGKILL) and resuming
continues from the finished batches and gives exactly the file of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from relscope.core.cli.main import main
from relscope.core.data.attributions import write_attributions
from relscope.plugins.demo.digits import write_digits
from tests.conftest import FIXTURES, default_sigint

INDICES = list(range(0, 26)) + list(range(1700, 1710))  # 36 samples, a gap in the middle
BATCH = 4


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The digits file and a stored attribution (seeded noise) of the evaluated samples."""
    folder = tmp_path_factory.mktemp("evaluate-resume")
    data = write_digits(folder / "digits.h5")
    with h5py.File(data, "r") as file:
        labels = file["label"][INDICES]
    attribution = np.random.default_rng(3).normal(size=(len(INDICES), 1, 32, 32))
    prediction = np.zeros((len(INDICES), 10), dtype=np.float32)
    write_attributions(
        folder / "attr.h5", attribution.astype(np.float32), prediction, labels, np.array(INDICES)
    )
    return folder, data


def _arguments(files, out, *extra):
    folder, data = files
    return ["evaluate", str(folder / "attr.h5"), "--model", "relscope_test_models:tiny_cnn",
            "--data", str(data), "--indices", "0:26,1700:1710", "--batch-size", str(BATCH),
            "--step", "64", "--baseline", "uniform", "--baselines", "gradient,random",
            "--metric", "pixel_flipping,aopc,abpc", "--out", str(out), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory):
    """An uninterrupted run, in process."""
    out = tmp_path_factory.mktemp("reference") / "evaluation.json"
    sys.path.insert(0, str(FIXTURES))
    try:
        assert main(_arguments(files, out, "--workers", "0", "--quiet")) == 0
    finally:
        sys.path.remove(str(FIXTURES))
    return json.loads(out.read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_evaluation_resumes_to_the_uninterrupted_result(
    files, reference, tmp_path, monkeypatch, capsys, sig
):
    """The subprocess is slowed (same numbers) and interrupted after two finished batches."""
    out = tmp_path / "evaluation.json"
    env = dict(os.environ, PYTHONPATH=str(FIXTURES), RELSCOPE_TEST_BATCH_DELAY="0.3")
    process = subprocess.Popen(
        [sys.executable, "-m", "relscope.core.cli", *_arguments(files, out, "--workers", "0")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 180
    while not (partial / "batch-000001.npz").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no batch finished in time"
        time.sleep(0.05)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert "rerun the same command with --resume" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    finished = sorted(p.name for p in partial.glob("batch-*.npz"))
    assert 2 <= len(finished) < len(INDICES) // BATCH, finished
    assert not out.exists()  # never a half-written output

    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)
    # another configuration (another step) is refused, and the finished batches are kept
    assert main(_arguments(files, out, "--resume", "--quiet", "--step", "32")) == 2
    assert "differs in: settings" in capsys.readouterr().err
    assert sorted(p.name for p in partial.glob("batch-*.npz")) == finished

    assert main(_arguments(files, out, "--resume", "--workers", "0")) == 0
    err = capsys.readouterr().err
    done = int(err.split("resumed after ")[1].split()[0])
    assert done >= len(finished) * BATCH  # the finished batches were not computed again
    # every curve and score bit for bit, the seeded random attribution and uniform baseline too
    assert json.loads(out.read_text()) == reference
    assert not partial.exists()

    # resuming a finished evaluation does nothing
    stamp = out.stat().st_mtime_ns
    assert main(_arguments(files, out, "--resume", "--workers", "0")) == 0
    assert "already complete" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == stamp
