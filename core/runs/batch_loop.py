"""The engine of every data-set run: samples in fixed batches through a job, each finished batch
stored atomically in ``<out>.partial/``, and the output assembled and renamed into place at the end.

Batch ``k`` always covers the same samples and re-seeds torch with ``seed + k`` (``k`` counted in
the whole run, also inside a torchrun shard), so a resumed or sharded run equals an uninterrupted
single-process one bit for bit. A job says what one batch computes (:meth:`BatchJob.compute`),
how its arrays are encoded for storage (off the main thread) and how the stored batches become
the output file; the engine owns loading, seeding, resuming, progress and the partial files.
A job whose ``takes_indices`` is true gets the batch's sample indices too (e.g. to read stored
per-sample values), so it needs no batch order and resumes like any other.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np

from relscope.core.data.atomic import remove_stale_temporaries
from relscope.core.data.inputs import InputSource
from relscope.core.errors import AttributionError, DataFormatError, ResumeError
from relscope.core.runs.batch_store import BatchStore
from relscope.core.runs.identity import config_hash
from relscope.core.runs.partial_run import PartialRun
from relscope.core.runs.samples import Preprocessing, SampleDataset, collate

CONFIG_ATTRIBUTE = "relscope_config"
CONFIG_HASH_ATTRIBUTE = "relscope_config_hash"


class BatchJob(Protocol):
    """What a data-set run does per batch and how its output file is made (see module docs)."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...

    def compute(self, inputs: Any, labels: list[list[int]]) -> dict[str, np.ndarray]:
        """The arrays of one batch of normalised model inputs (rows in batch order); called as
        ``compute(inputs, labels, indices)`` (int64 sample indices) when ``takes_indices``."""

    def encode(self, arrays: dict[str, np.ndarray], pool: ThreadPoolExecutor) -> dict[str, Any]:
        """``arrays`` in their stored form (runs on a background thread)."""

    def assemble(
        self, out: Path, batches: Iterator[dict[str, np.ndarray]], attributes: dict[str, str]
    ) -> None:
        """Write ``out`` atomically from the stored batches, in order, with ``attributes``."""


@attrs.frozen
class Batching:
    """How samples go through the model: batch size, device, loader workers and the base seed."""

    batch_size: int = 32
    device: str = "cpu"
    workers: int = 0
    seed: int = 0


@attrs.define
class RunResult:
    """What a run did: samples computed now, samples found done, whether the output was already
    complete, whether a partial run (not resumed) was thrown away, and which batches were redone."""

    attributed: int
    resumed_from: int
    already_complete: bool = False
    discarded_partial: bool = False
    #: stored batches a resume found damaged (digest, samples) and computed again
    redone: list[int] = attrs.Factory(list)


def stored_config_hash(path: Path) -> str | None:
    """The configuration hash stored in output file ``path`` (None when absent/unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            value = file.attrs.get(CONFIG_HASH_ATTRIBUTE)
    except OSError:
        return None
    return value.decode() if isinstance(value, bytes) else value


def run_batches(
    job: BatchJob,
    inputs: InputSource,
    out: str | Path,
    config: dict[str, Any],
    indices: Sequence[int],
    *,
    preprocessing: Preprocessing = Preprocessing(),
    batching: Batching = Batching(),
    resume: bool = False,
    progress: bool = True,
    batch_numbers: Sequence[int] | None = None,
    progress_label: str = "run",
) -> RunResult:
    """Run ``job`` over ``inputs[indices]`` into ``out``; ``config`` is the run's whole identity.

    It is stored with the partial batches and in the output; a resume with another one is refused,
    and a resume of a complete output with the same one does nothing. ``batch_numbers`` are the
    numbers of this run's batches in a larger run (a torchrun shard), for seeding.
    """
    import torch

    out = Path(out)
    all_indices = [int(i) for i in indices]
    if not all_indices:
        raise DataFormatError(f"{inputs.path}: no samples to process")
    size = batching.batch_size
    run = PartialRun(out, config)
    discarded = False
    total_batches = math.ceil(len(all_indices) / size)
    numbers = list(range(total_batches)) if batch_numbers is None else list(batch_numbers)
    if len(numbers) != total_batches:
        raise ValueError(f"{len(numbers)} batch numbers for {total_batches} batches")
    remove_stale_temporaries(out)

    def batch_indices_of(number: int) -> np.ndarray:
        return np.asarray(all_indices[number * size : (number + 1) * size], dtype=np.int64)

    todo_batches = list(range(total_batches))
    redone: dict[int, str] = {}
    if resume and run.exists():
        run.check_same_config()
        run.tidy(total_batches)
        redone = run.damaged_batches(total_batches, batch_indices_of)
        run.drop(redone)
        if redone:
            print(f"relscope: {run.dir}: recomputing {_batch_list(redone)}", file=sys.stderr)
        present = run.present_batches(total_batches)
        todo_batches = [number for number in todo_batches if number not in present]
    elif resume and out.exists() and stored_config_hash(out) == config_hash(run.config):
        return RunResult(0, len(all_indices), already_complete=True)
    else:
        discarded = run.exists()
        run.discard()
    todo = [i for number in todo_batches for i in batch_indices_of(number).tolist()]
    done = len(all_indices) - len(todo)
    loader = torch.utils.data.DataLoader(
        SampleDataset(inputs, todo),
        batch_size=size,
        shuffle=False,
        num_workers=batching.workers,
        collate_fn=collate,
        persistent_workers=False,
        pin_memory=torch.device(batching.device).type == "cuda",
        prefetch_factor=4 if batching.workers > 0 else None,
    )
    bar = _progress(progress, len(all_indices), done, progress_label)
    store = BatchStore(run, job.encode)
    computed = 0
    failed = True
    try:
        with job:
            for number, (images, labels, batch_indices) in zip(todo_batches, loader, strict=True):
                torch.manual_seed(batching.seed + numbers[number])
                try:
                    batch = preprocessing.normalise(images.to(batching.device))
                    if getattr(job, "takes_indices", False):
                        arrays = job.compute(batch, labels, np.asarray(batch_indices, np.int64))
                    else:
                        arrays = job.compute(batch, labels)
                except AttributionError:
                    raise
                except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise AttributionError(
                        f"the model failed on samples {batch_indices[0]}..{batch_indices[-1]}: "
                        f"{type(exc).__name__}: {reason}"
                    ) from None
                arrays["index"] = np.asarray(batch_indices, dtype=np.int64)
                store.submit(number, arrays)
                computed += len(labels)
                if bar is not None:
                    bar.update(len(labels))
        failed = False
    finally:
        store.close(raise_errors=not failed)
        if bar is not None:
            bar.close()
    attributes = {
        CONFIG_ATTRIBUTE: json.dumps(run.config, sort_keys=True),
        CONFIG_HASH_ATTRIBUTE: config_hash(run.config),
    }

    def checked(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
        for number, batch in enumerate(batches):
            if not np.array_equal(batch["index"], batch_indices_of(number)):
                raise ResumeError(
                    f"{run.dir}: batch {number} holds the samples of another batch; "
                    "rerun with --resume to recompute it"
                )
            yield batch

    run.finish(total_batches, lambda batches: job.assemble(out, checked(batches), attributes))
    return RunResult(computed, done, discarded_partial=discarded, redone=sorted(redone))


def _batch_list(damaged: dict[int, str]) -> str:
    """``batch 3 (digest mismatch), batch 5 (...)`` for the one line a resume prints."""
    parts = [f"batch {number} ({why})" for number, why in sorted(damaged.items())]
    return f"{len(parts)} damaged stored batch{'es' if len(parts) > 1 else ''}: " + ", ".join(parts)


def _progress(enabled: bool, total: int, done: int, label: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="sample",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
        mininterval=0.5,
        desc=label,
    )
