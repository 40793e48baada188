"""The run engine every data-set run builds on: fixed batches, per-batch seeds, resume after a
crash, refused foreign configurations, and an output that appears whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from relscope.core.data.atomic import atomic_path
from relscope.core.data.inputs import open_inputs
from relscope.core.errors import ResumeError
from relscope.core.runs.batch_loop import (
    CONFIG_ATTRIBUTE,
    CONFIG_HASH_ATTRIBUTE,
    Batching,
    run_batches,
)
from relscope.core.runs.identity import config_hash


class Crash(Exception):
    """Stands for a SIGKILL between two batches."""


class SumJob:
    """A job written from scratch: per sample the pixel sum and a seeded random number; the output
    is a plain HDF5 file with both columns and the sample index."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.batches = 0
        self.entered = 0

    def __enter__(self) -> SumJob:
        self.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.entered -= 1

    def compute(self, inputs: torch.Tensor, labels: list[list[int]]) -> dict[str, np.ndarray]:
        if self.batches == self.crash_at:
            raise Crash
        self.batches += 1
        return {
            "sum": inputs.sum(dim=(1, 2, 3)).double().numpy(),
            "noise": torch.rand(len(labels)).numpy(),
            "label": np.asarray([row[0] for row in labels]),
        }

    def encode(self, arrays, pool):
        return arrays

    def assemble(self, out: Path, batches, attributes) -> None:
        columns: dict[str, list[np.ndarray]] = {}
        for batch in batches:
            for key, value in batch.items():
                columns.setdefault(key, []).append(value)
        with atomic_path(out) as temp, h5py.File(temp, "w") as file:
            for key, values in columns.items():
                file[key] = np.concatenate(values)
            file.attrs.update(attributes)


@pytest.fixture
def inputs(tmp_path: Path):
    images = np.arange(10 * 1 * 2 * 3, dtype=np.float32).reshape(10, 1, 2, 3) / 60.0
    path = tmp_path / "inputs.h5"
    with h5py.File(path, "w") as file:
        file["data"] = images
        file["label"] = np.arange(10) % 3
    source = open_inputs(path)
    yield source, images
    source.close()


def _expected_noise(seed: int, batch_size: int, count: int) -> np.ndarray:
    """Batch k draws after torch.manual_seed(seed + k): the engine's seeding, replayed."""
    parts = []
    for number, start in enumerate(range(0, count, batch_size)):
        torch.manual_seed(seed + number)
        parts.append(torch.rand(min(batch_size, count - start)).numpy())
    return np.concatenate(parts)


def test_a_run_computes_every_batch_with_its_seed_and_records_its_identity(tmp_path, inputs):
    source, images = inputs
    out = tmp_path / "sums.h5"
    config = {"job": "sum", "samples": 7}
    indices = [9, 0, 4, 5, 1, 2, 8]
    job = SumJob()
    result = run_batches(
        job, source, out, config, indices, batching=Batching(batch_size=3, seed=11), progress=False
    )
    assert (result.attributed, result.resumed_from, job.entered) == (7, 0, 0)
    with h5py.File(out, "r") as file:
        np.testing.assert_array_equal(file["index"][()], indices)
        np.testing.assert_allclose(file["sum"][()], images[indices].sum(axis=(1, 2, 3)), rtol=1e-6)
        np.testing.assert_array_equal(file["label"][()], np.asarray(indices) % 3)
        np.testing.assert_array_equal(file["noise"][()], _expected_noise(11, 3, 7))
        assert json.loads(file.attrs[CONFIG_ATTRIBUTE]) == config
        assert file.attrs[CONFIG_HASH_ATTRIBUTE] == config_hash(config)
    assert not out.with_name(out.name + ".partial").exists()


def test_a_crashed_run_resumes_after_its_last_batch_and_equals_an_uninterrupted_one(
    tmp_path, inputs
):
    source, _ = inputs
    config = {"job": "sum"}
    batching = Batching(batch_size=2, seed=3)
    whole = tmp_path / "whole.h5"
    run_batches(SumJob(), source, whole, config, range(10), batching=batching, progress=False)
    out = tmp_path / "resumed.h5"
    with pytest.raises(Crash):
        run_batches(
            SumJob(crash_at=3), source, out, config, range(10), batching=batching, progress=False
        )
    assert not out.exists()  # nothing half-written
    partial = out.with_name(out.name + ".partial")
    assert sorted(p.name for p in partial.glob("batch-*.npz")) == [
        f"batch-{n:06d}.npz" for n in range(3)
    ]
    with pytest.raises(ResumeError, match="differs in: job"):
        run_batches(SumJob(), source, out, {"job": "other"}, range(10), resume=True, progress=False)
    job = SumJob()
    result = run_batches(
        job, source, out, config, range(10), batching=batching, resume=True, progress=False
    )
    assert (result.attributed, result.resumed_from, job.batches) == (4, 6, 2)
    with h5py.File(whole, "r") as a, h5py.File(out, "r") as b:
        for key in ("index", "sum", "noise", "label"):
            np.testing.assert_array_equal(a[key][()], b[key][()])
    again = run_batches(
        SumJob(), source, out, config, range(10), batching=batching, resume=True, progress=False
    )
    assert again.already_complete and again.attributed == 0
