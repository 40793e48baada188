"""Interrupting ``relscope attribute`` (a real subprocess receiving SIGINT or SIGKILL) and resuming
gives exactly the arrays of an uninterrupted run; a different configuration is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from relscope.core.cli.main import main
from tests.conftest import FIXTURES, default_sigint

COUNT, BATCH = 96, 8


def _arguments(out, *extra):
    return ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data", "builtin:digits",
            "--data-out", str(out.parent.parent / "digits.h5"), "--composite", "epsilon_plus_flat",
            "--indices", f"0:{COUNT - 10},1700:1710", "--batch-size", str(BATCH),
            "--out", str(out), *extra]  # fmt: skip


def _read(path):
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run (in-process)."""
    out = tmp_path_factory.mktemp("reference") / "run" / "attribution.h5"
    sys.path.insert(0, str(FIXTURES))
    try:
        assert main(_arguments(out, "--workers", "0", "--quiet")) == 0
    finally:
        sys.path.remove(str(FIXTURES))
    return _read(out)


def _interrupted(out, sig):
    """Start the CLI slowed down, wait for two finished batches, send ``sig``."""
    env = dict(os.environ, PYTHONPATH=str(FIXTURES), RELSCOPE_TEST_BATCH_DELAY="0.3")
    process = subprocess.Popen(
        [sys.executable, "-m", "relscope.core.cli", *_arguments(out, "--workers", "1")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 120
    while not (partial / "batch-000001.npz").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no batch finished in time"
        time.sleep(0.05)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    batches = sorted(p.name for p in partial.glob("batch-*.npz"))
    assert 2 <= len(batches) < COUNT // BATCH, batches
    assert not out.exists()  # never a half-written output
    return process.returncode, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(
    tmp_path, reference, monkeypatch, capsys, sig
):
    out = tmp_path / "run" / "attribution.h5"
    code, stderr = _interrupted(out, sig)
    if sig == signal.SIGINT:
        assert code == 130
        assert "sample/s" in stderr  # the progress bar was on
        assert "rerun the same command with --resume" in stderr
    else:
        assert code == -signal.SIGKILL

    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)
    partial = out.with_name(out.name + ".partial")
    before = sorted(p.name for p in partial.iterdir())
    # another configuration (a different composite) is refused and the partial run kept
    other = _arguments(out, "--resume", "--quiet", "--workers", "0")
    other[other.index("epsilon_plus_flat")] = "epsilon_plus"
    assert main(other) == 2
    assert "differs in: composite" in capsys.readouterr().err
    assert sorted(p.name for p in partial.iterdir()) == before

    assert main(_arguments(out, "--resume", "--workers", "2")) == 0
    err = capsys.readouterr().err
    assert "resumed after" in err
    result = _read(out)
    assert set(result) == set(reference) == {"attribution", "prediction", "label", "index"}
    for key in reference:
        assert result[key].dtype == reference[key].dtype
        assert np.array_equal(result[key], reference[key]), key  # bit for bit
    assert not partial.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["attribution.h5"]

    # resuming a finished run does nothing
    stamp = out.stat().st_mtime_ns
    assert main(_arguments(out, "--resume", "--workers", "0")) == 0
    assert "already complete" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == stamp


def test_stochastic_attributor_resumes_bit_for_bit(tmp_path, monkeypatch, capsys):
    """SmoothGrad draws noise from torch's generator, re-seeded per batch: an interrupted and
    resumed run equals an uninterrupted one exactly."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.delenv("RELSCOPE_TEST_BATCH_DELAY", raising=False)

    def arguments(out):
        return ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data",
                "builtin:digits", "--data-out", str(tmp_path / "digits.h5"), "--composite",
                "none", "--attributor", "smoothgrad", "--attributor-param", "n_iter=3",
                "--limit", "16", "--batch-size", "4", "--workers", "0", "--quiet",
                "--out", str(out)]  # fmt: skip

    assert main(arguments(tmp_path / "whole.h5")) == 0
    monkeypatch.setenv("RELSCOPE_TEST_INTERRUPT_AFTER", "10")  # inside the third batch
    assert main(arguments(tmp_path / "cut.h5")) == 130
    assert "--resume" in capsys.readouterr().err
    assert 1 <= len(list((tmp_path / "cut.h5.partial").glob("batch-*.npz"))) < 4
    monkeypatch.delenv("RELSCOPE_TEST_INTERRUPT_AFTER")
    assert main([*arguments(tmp_path / "cut.h5"), "--resume"]) == 0
    whole, cut = _read(tmp_path / "whole.h5"), _read(tmp_path / "cut.h5")
    assert set(whole) == set(cut)
    for key in whole:
        assert np.array_equal(whole[key], cut[key]), key
    # the noise matters: another --seed gives other attributions
    assert main([*arguments(tmp_path / "seed1.h5"), "--seed", "1"]) == 0
    assert not np.array_equal(_read(tmp_path / "seed1.h5")["attribution"], whole["attribution"])
