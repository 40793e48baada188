"""``relscope attribute --distributed`` under a real ``torchrun --nproc_per_node=2`` (CPU, gloo):
the joined file equals a single-process run row for row (a stochastic attributor, so batch seeding
matters), a killed rank resumes its shard, and the shard arithmetic tiles every run exactly."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import psutil
import pytest
import torch

from relscope.core.cli.main import main
from relscope.core.data.attributions import AttributionSet
from relscope.core.data.virtual_attribution import shard_row_blocks
from relscope.core.errors import DataFormatError
from relscope.core.runs.shards import Shard
from tests.conftest import FIXTURES

BATCH = 16
INDICES = "0:150,1700:1750"  # 200 samples, not a multiple of BATCH: the last batch is short
SAMPLES = 200


def _arguments(out, digits, *extra):
    return ["attribute", "--model", "relscope_test_models:tiny_cnn", "--data", "builtin:digits",
            "--data-out", str(digits), "--composite", "epsilon_plus_flat",
            "--attributor", "smoothgrad", "--attributor-param", "n_iter=2",
            "--indices", INDICES, "--batch-size", str(BATCH), "--workers", "0",
            "--out", str(out), *extra]  # fmt: skip


def _read(path):
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}, dict(file.attrs)


def _torchrun(out, digits, *extra, delay=None):
    """Start ``torchrun --standalone --nproc_per_node=2 -m relscope.core.cli attribute ...``."""
    env = dict(os.environ, PYTHONPATH=str(FIXTURES))
    env.pop("RELSCOPE_TEST_BATCH_DELAY", None)
    if delay is not None:
        env["RELSCOPE_TEST_BATCH_DELAY"] = str(delay)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "relscope.core.cli",
               *_arguments(out, digits, "--distributed", *extra)]  # fmt: skip
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return tmp_path_factory.mktemp("digits") / "digits.h5"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits):
    """A single-process run (in-process, one thread like each torchrun rank)."""
    out = tmp_path_factory.mktemp("single") / "attribution.h5"
    threads = torch.get_num_threads()
    sys.path.insert(0, str(FIXTURES))
    torch.set_num_threads(1)
    try:
        assert main(_arguments(out, digits, "--quiet")) == 0
    finally:
        torch.set_num_threads(threads)
        sys.path.remove(str(FIXTURES))
    return _read(out)


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("distributed") / "attribution.h5"
    process = _torchrun(out, digits, "--quiet")
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return out, stdout


def _assert_same(result, reference):
    data, attrs = result
    expected, expected_attrs = reference
    assert set(data) == set(expected) == {"attribution", "prediction", "label", "index"}
    for key in expected:
        assert data[key].dtype == expected[key].dtype, key
        assert np.array_equal(data[key], expected[key]), key  # bit for bit, row for row
    # the joined file records the configuration a single-process run records
    assert attrs["relscope_config_hash"] == expected_attrs["relscope_config_hash"]


def test_torchrun_two_ranks_equal_a_single_process_run(distributed_run, reference):
    out, stdout = distributed_run
    assert f"{out}: {SAMPLES} attributions in 2 shards" in stdout
    _assert_same(_read(out), reference)
    shards = sorted(out.with_name("attribution.h5.shards").iterdir())
    assert [p.name for p in shards] == ["shard-00000-of-00002.h5", "shard-00001-of-00002.h5"]
    with h5py.File(out, "r") as file:
        assert file["attribution"].is_virtual  # joined without copying
    # each shard is an attribution file of its own; together they hold every sample once
    expected_index = reference[0]["index"]
    with AttributionSet(shards) as split:
        assert np.array_equal(split.indices, np.sort(expected_index))
        row = int(np.flatnonzero(expected_index == 1720)[0])
        assert np.array_equal(split.attribution(1720), reference[0]["attribution"][row])
    rows = [h5py.File(p, "r")["index"].shape[0] for p in shards]
    assert rows == [6 * BATCH + SAMPLES % BATCH, 6 * BATCH]  # batches 0,2,..,12 / 1,3,..,11


def test_joined_file_names_a_missing_shard(distributed_run, tmp_path):
    out, _ = distributed_run
    copy = tmp_path / "attribution.h5"
    shutil.copy(out, copy)
    shutil.copytree(out.with_name("attribution.h5.shards"), tmp_path / "attribution.h5.shards")
    assert len(AttributionSet(copy)) == SAMPLES  # moved together: still readable
    (tmp_path / "attribution.h5.shards" / "shard-00001-of-00002.h5").unlink()
    with pytest.raises(DataFormatError, match="shard-00001-of-00002.h5"):
        AttributionSet(copy)


def _rank_process(launcher, rank):
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "relscope.core.cli" in child.cmdline():
                return child
        except psutil.Error:
            continue
    return None


def test_killed_rank_resumes_its_shard(tmp_path, digits, reference):
    out = tmp_path / "attribution.h5"
    partial = out.with_name("attribution.h5.shards") / "shard-00001-of-00002.h5.partial"
    launcher = _torchrun(out, digits, delay=0.25)
    deadline = time.monotonic() + 180
    try:
        while not (partial / "batch-000001.npz").exists():
            assert launcher.poll() is None, launcher.communicate()
            assert time.monotonic() < deadline, "rank 1 finished no batch in time"
            time.sleep(0.05)
        rank1 = _rank_process(launcher, 1)
        assert rank1 is not None
        rank1.send_signal(signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode != 0
    assert not out.exists()  # nothing joined from an unfinished run
    kept = sorted(p.name for p in partial.glob("batch-*.npz"))
    assert 2 <= len(kept) < math.ceil(SAMPLES / BATCH) // 2, kept

    resumed = _torchrun(out, digits, "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert f"rank 1/2: {partial.with_suffix('')}: resumed after" in stderr
    _assert_same(_read(out), reference)
    assert not partial.exists()


def test_ranks_with_different_models_refuse_to_start(tmp_path, digits):
    out = tmp_path / "attribution.h5"
    arguments = _arguments(out, digits, "--distributed", "--quiet")
    arguments[arguments.index("relscope_test_models:tiny_cnn")] = (
        "relscope_test_models:per_process_cnn"
    )
    process = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "relscope.core.cli", *arguments],
        env=dict(os.environ, PYTHONPATH=str(FIXTURES)), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert process.returncode != 0
    assert "relscope: error: rank 0/2: the ranks disagree on model_state (random weights?" in (
        process.stderr
    )
    assert not out.exists() and not out.with_name("attribution.h5.shards").exists()


def test_distributed_outside_torchrun_is_one_line_error(tmp_path, monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(FIXTURES))
    code = main(_arguments(tmp_path / "a.h5", tmp_path / "digits.h5", "--distributed"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "start the command with torchrun" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
@pytest.mark.parametrize("samples,batch", [(200, 16), (64, 16), (7, 4), (5, 8)])
def test_shards_tile_the_run_in_single_process_order(world_size, samples, batch):
    """Dealing batches round robin and mapping the shard rows back gives every row exactly once,
    in the order a single process writes them."""
    indices = list(range(1000, 1000 + 3 * samples, 3))  # arbitrary dataset indices
    expected_batches = [indices[k : k + batch] for k in range(0, samples, batch)]
    joined = np.full(samples, -1)
    for rank in range(world_size):
        shard = Shard(rank, world_size)
        mine = shard.indices(indices, batch)
        assert mine == [i for b in expected_batches[rank::world_size] for i in b]
        for blocks in shard_row_blocks(shard, samples, batch):
            for n in range(blocks.count):
                start = blocks.start + n * blocks.stride
                source = blocks.source_start + n * blocks.block
                assert (joined[start : start + blocks.block] == -1).all()  # never twice
                joined[start : start + blocks.block] = mine[source : source + blocks.block]
    assert joined.tolist() == indices
