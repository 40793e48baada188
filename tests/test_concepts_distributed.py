"""``relscope concepts --distributed`` under a real ``torchrun --nproc_per_node=2`` (CPU, gloo):
the joined concepts.h5 equals a single-process run, dataset for dataset, bit for bit (rows,
top-k references with their ties, conditional heatmaps, boxes, configuration), and a second run
with ``--resume`` finds every shard complete and leaves the file as it is."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from relscope.core.cli.main import main
from relscope.core.runs.concepts_distributed import shard_batches
from relscope.core.runs.shards import Shard
from tests.conftest import FIXTURES

BATCH = 16
INDICES = "0:150,1700:1750"  # 200 samples, not a multiple of BATCH: the last batch is short
SAMPLES = 200


def _arguments(out, digits, *extra):
    return ["concepts", "--model", "relscope_test_models:tiny_cnn", "--random-weights",
            "--data", "builtin:digits", "--data-out", str(digits),
            "--composite", "epsilon_plus_flat", "--layer", "1", "--layer", "4", "--top-k", "5",
            "--indices", INDICES, "--batch-size", str(BATCH), "--workers", "0",
            "--out", str(out), *extra]  # fmt: skip


def _read(path):
    """Every dataset of the file (by path) and its attributes."""
    found = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
        attributes = {"/": dict(file.attrs)}
        attributes.update({f"layers/{n}": dict(file["layers"][n].attrs) for n in file["layers"]})
    return found, attributes


def _torchrun(out, digits, *extra):
    env = dict(os.environ, PYTHONPATH=str(FIXTURES))
    env.pop("RELSCOPE_TEST_BATCH_DELAY", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "relscope.core.cli",
               *_arguments(out, digits, "--distributed", *extra)]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return tmp_path_factory.mktemp("digits") / "digits.h5"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits):
    """A single-process run (in-process, one thread like each torchrun rank)."""
    out = tmp_path_factory.mktemp("single") / "concepts.h5"
    threads = torch.get_num_threads()
    sys.path.insert(0, str(FIXTURES))
    torch.set_num_threads(1)
    try:
        assert main(_arguments(out, digits, "--quiet")) == 0
    finally:
        torch.set_num_threads(threads)
        sys.path.remove(str(FIXTURES))
    return _read(out)


def test_two_ranks_write_the_concepts_file_of_one(tmp_path, digits, reference) -> None:
    out = tmp_path / "concepts.h5"
    done = _torchrun(out, digits, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{out}: concepts of 1, 4 ({SAMPLES} samples in 2 shards, joined)" in done.stdout
    data, attributes = _read(out)
    expected, expected_attributes = reference
    assert set(data) == set(expected)
    assert {"index", "label", "prediction", "layers/4/relmax/heatmap"} <= set(data)
    for key in expected:
        assert data[key].dtype == expected[key].dtype, key
        assert np.array_equal(data[key], expected[key]), key  # bit for bit
    assert attributes == expected_attributes  # configuration, hash, layers, top_k
    # the rows are the run's order: 0..149, then 1700..1749
    assert data["index"].tolist() == [*range(150), *range(1700, 1750)]
    shards = [Shard(r, 2).path(out) for r in range(2)]
    assert all(path.is_file() for path in shards)
    with h5py.File(shards[0], "r") as first, h5py.File(shards[1], "r") as second:
        rows = [first["index"].shape[0], second["index"].shape[0]]
    assert rows == [6 * BATCH + SAMPLES % BATCH, 6 * BATCH]  # batches 0,2,..,12 / 1,3,..,11
    order = np.concatenate([b["index"] for b in shard_batches(shards, SAMPLES, BATCH)])
    assert order.tolist() == data["index"].tolist()
    stamp = out.stat().st_mtime_ns
    again = _torchrun(out, digits, "--quiet", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already complete" in again.stdout and out.stat().st_mtime_ns == stamp
