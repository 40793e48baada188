"""Attribute a whole data set into an attribution file, batch by batch, resumably.

Samples are loaded by DataLoader workers (overlapping with attribution), normalised with the
model's mean/std on its device, attributed, and each finished batch is compressed on background
threads and stored atomically in ``<out>.partial/`` (see :mod:`relscope.core.data.partial_run`).
At the end the stored chunks are copied into ``out`` (no second compression), with the run's
configuration in its attributes. Batch ``k`` always covers the same samples and
re-seeds torch with ``seed + k``, so a resumed run equals an uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from relscope.core.data.atomic import remove_stale_temporaries
from relscope.core.data.attributions import AttributionFileWriter, chunk_rows
from relscope.core.data.chunk_codec import (
    COMPRESSION_LEVEL,
    encode_rows,
    pack_chunks,
    rows_per_chunk_for,
    unpack_chunks,
)
from relscope.core.data.inputs import InputSource
from relscope.core.data.labels import labels_array
from relscope.core.data.partial_run import PartialRun, config_hash
from relscope.core.errors import AttributionError, DataFormatError, ResumeError

CONFIG_ATTRIBUTE = "relscope_config"
CONFIG_HASH_ATTRIBUTE = "relscope_config_hash"


@attrs.frozen
class Preprocessing:
    """Per-channel normalisation ``(x - mean) / std`` of [0, 1] images, and the z^B box it implies.

    ``channels``: grey (1-channel) images are repeated to this many channels first (a 3-channel
    model fed grey images)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int | None = None

    def _stats(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean or (0.0,), dtype=torch.float32)
        std = torch.tensor(self.std or (1.0,), dtype=torch.float32)
        for name, values in (("mean", mean), ("std", std)):
            if values.numel() not in (1, channels):
                raise DataFormatError(
                    f"--{name} has {values.numel()} values but the images have {channels} channels"
                )
        return mean.expand(channels).reshape(channels, 1, 1), std.expand(channels).reshape(
            channels, 1, 1
        )

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """(C, H, W) or (B, C, H, W) in [0, 1] -> the model's input space (on image's device)."""
        if self.channels is not None and image.shape[-3] == 1 and self.channels != 1:
            image = image.expand(*image.shape[:-3], self.channels, *image.shape[-2:]).contiguous()
        if self.mean is None and self.std is None:
            return image
        mean, std = self._stats(image.shape[-3])
        return (image - mean.to(image.device)) / std.to(image.device)

    def bounds(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The z^B box: where pixel values 0 and 1 land after normalisation, (1, C, 1, 1) each."""
        mean, std = self._stats(channels)
        return ((0.0 - mean) / std)[None], ((1.0 - mean) / std)[None]


class SampleDataset(torch.utils.data.Dataset):
    """Samples ``indices`` of ``inputs`` as (CHW tensor in [0, 1], labels, index) triples; the
    batches are normalised on the model's device."""

    def __init__(self, inputs: InputSource, indices: Sequence[int]) -> None:
        self.inputs = inputs
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, list[int], int]:
        index = self.indices[position]
        image = torch.from_numpy(np.ascontiguousarray(self.inputs.image(index).transpose(2, 0, 1)))
        return image, self.inputs.labels(index), index


def collate(batch: list[tuple[torch.Tensor, list[int], int]]) -> tuple[torch.Tensor, list, list]:
    """Stack images; keep label lists (they may differ in length) and indices as lists."""
    shapes = {tuple(item[0].shape) for item in batch}
    if len(shapes) > 1:
        raise DataFormatError(
            f"samples {[item[2] for item in batch]} differ in size {sorted(shapes)}; "
            "give an input size with resampling so every sample has the same shape"
        )
    return (
        torch.stack([item[0] for item in batch]),
        [item[1] for item in batch],
        [item[2] for item in batch],
    )


def target_relevance(target: str | int, labels: list[list[int]]) -> Any:
    """The engine's ``attr_output`` for a batch: ``label``, ``prediction`` or a fixed class."""
    if target == "prediction":
        return None
    if isinstance(target, int):
        return target
    if all(len(row) == 1 for row in labels):
        return [row[0] for row in labels]

    def n_hot(output: torch.Tensor) -> torch.Tensor:
        relevance = torch.zeros_like(output)
        for row, classes in enumerate(labels):
            for label in classes:
                if label >= output.shape[1]:
                    raise AttributionError(
                        f"label {label} is out of range: the model has {output.shape[1]} outputs"
                    )
                relevance[row, label] = 1.0
        return relevance

    return n_hot


@attrs.define
class RunResult:
    """What a run did: samples attributed now, samples found done, whether the output was already
    complete, whether a partial run (not resumed) was thrown away, and the stored batches a
    resume found damaged and computed again."""

    attributed: int
    resumed_from: int
    already_complete: bool = False
    discarded_partial: bool = False
    redone: list[int] = attrs.Factory(list)


def run_config(
    config: dict[str, Any],
    sample_shape: tuple[int, int, int],
    batch_size: int,
    target: str | int,
    seed: int,
) -> dict[str, Any]:
    """``config`` completed with what else fixes the stored result: batching, target, seed and the
    chunk layout of (C, H, W) samples. A distributed run's joined file records the same."""
    return {
        **config,
        "batch_size": batch_size,
        "target": target,
        "seed": seed,
        "chunk_rows": rows_per_chunk_for(batch_size, chunk_rows(sample_shape)),
        "compression_level": COMPRESSION_LEVEL,
    }


def stored_config_hash(path: Path) -> str | None:
    """The configuration hash stored in attribution file ``path`` (None when absent/unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            value = file.attrs.get(CONFIG_HASH_ATTRIBUTE)
    except OSError:
        return None
    return value.decode() if isinstance(value, bytes) else value


def attribute_dataset(
    attributor: Any,
    inputs: InputSource,
    out: str | Path,
    config: dict[str, Any],
    *,
    indices: Sequence[int] | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    target: str | int = "label",
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    batch_numbers: Sequence[int] | None = None,
    with_index: bool | None = None,
    progress_label: str = "attribute",
) -> RunResult:
    """Attribute ``inputs[indices]`` with ``attributor`` (an entered-able Attributor) into ``out``.

    ``config`` describes everything that determines the result; it is stored with the partial run
    and the output, and a resume with a different one is refused. ``index`` is written when
    ``indices`` is not the whole data set in order (or when ``with_index`` is True).
    ``batch_numbers`` are the numbers of this run's batches within a larger run (a distributed
    shard): batch ``j`` is seeded with ``seed + batch_numbers[j]`` instead of ``seed + j``.
    """
    out = Path(out)
    all_indices = list(range(len(inputs))) if indices is None else [int(i) for i in indices]
    if not all_indices:
        raise DataFormatError(f"{inputs.path}: no samples to attribute")
    if with_index is None:
        with_index = all_indices != list(range(len(inputs)))
    height, width, channels = inputs.image(all_indices[0]).shape
    config = run_config(config, (channels, height, width), batch_size, target, seed)
    rows_per_chunk = config["chunk_rows"]
    run = PartialRun(out, config)
    discarded = False
    total_batches = math.ceil(len(all_indices) / batch_size)
    numbers = list(range(total_batches)) if batch_numbers is None else list(batch_numbers)
    if len(numbers) != total_batches:
        raise ValueError(f"{len(numbers)} batch numbers for {total_batches} batches")
    remove_stale_temporaries(out)
    todo_batches = list(range(total_batches))
    redone: dict[int, str] = {}

    def batch_indices_of(number: int) -> np.ndarray:
        return np.asarray(all_indices[number * batch_size : (number + 1) * batch_size], np.int64)

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
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=False,
        pin_memory=torch.device(device).type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )
    bar = _progress(progress, len(all_indices), done, progress_label)
    store = BatchStore(run, rows_per_chunk)
    attributed = 0
    failed = True
    try:
        with attributor:
            batches = zip(todo_batches, loader, strict=True)
            for number, (images, labels, batch_indices) in batches:
                torch.manual_seed(seed + numbers[number])
                try:
                    output, relevance = attributor(
                        preprocessing.normalise(images.to(device)),
                        target_relevance(target, labels),
                    )
                except AttributionError:
                    raise
                except (RuntimeError, ValueError, TypeError, IndexError) as exc:
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise AttributionError(
                        f"the model failed on samples {batch_indices[0]}..{batch_indices[-1]}: "
                        f"{type(exc).__name__}: {reason}"
                    ) from None
                store.submit(
                    number,
                    relevance.detach().float().cpu().numpy(),
                    {
                        "prediction": output.detach()
                        .float()
                        .cpu()
                        .numpy()
                        .reshape(len(labels), -1),
                        "label": labels_array(
                            labels, inputs.multi_label, inputs.label_column.width
                        ),
                        "index": np.asarray(batch_indices, dtype=np.int64),
                    },
                )
                attributed += len(labels)
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

    def assemble(batches: Any) -> None:
        with AttributionFileWriter(out, with_index, attributes) as writer:
            for number, batch in enumerate(batches):
                if not np.array_equal(batch["index"], batch_indices_of(number)):
                    raise ResumeError(
                        f"{run.dir}: batch {number} holds the samples of another batch; "
                        "rerun with --resume to recompute it"
                    )
                writer.append_encoded(
                    unpack_chunks(batch["attribution_chunks"], batch["attribution_sizes"]),
                    tuple(int(n) for n in batch["attribution_shape"]),
                    rows_per_chunk,
                    COMPRESSION_LEVEL,
                    batch["prediction"],
                    batch["label"],
                    batch["index"],
                )

    run.finish(total_batches, assemble)
    return RunResult(attributed, done, discarded_partial=discarded, redone=sorted(redone))


class BatchStore:
    """Encodes finished batches on background threads and stores them in order.

    Compression (zlib releases the GIL) runs on a small thread pool while the main thread
    attributes the next batch; at most ``depth`` batches wait, bounding memory.
    """

    def __init__(self, run: PartialRun, rows_per_chunk: int, depth: int = 2) -> None:
        self.run = run
        self.rows_per_chunk = rows_per_chunk
        self.depth = depth
        self.encoders = ThreadPoolExecutor(max(1, min(8, (os.cpu_count() or 2) // 2)))
        self.writer = ThreadPoolExecutor(1)
        self.pending: deque[Future[None]] = deque()

    def _store(self, number: int, attribution: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        chunks = encode_rows(attribution, self.rows_per_chunk, COMPRESSION_LEVEL, self.encoders)
        data, sizes = pack_chunks(chunks)
        self.run.write_batch(
            number,
            {
                "attribution_chunks": data,
                "attribution_sizes": sizes,
                "attribution_shape": np.asarray(attribution.shape, dtype=np.int64),
                **columns,
            },
        )

    def submit(self, number: int, attribution: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Queue batch ``number``; waits while ``depth`` batches are still being stored."""
        self.pending.append(self.writer.submit(self._store, number, attribution, columns))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def close(self, raise_errors: bool = True) -> None:
        """Finish every queued batch (their files are atomic either way) and stop the threads."""
        try:
            while self.pending:
                future = self.pending.popleft()
                if raise_errors:
                    future.result()
                else:
                    future.exception()
        finally:
            self.writer.shutdown(wait=True)
            self.encoders.shutdown(wait=True)


def _batch_list(damaged: dict[int, str]) -> str:
    """``batch 3 (digest mismatch), batch 5 (...)`` for the one line a resume prints."""
    parts = [f"batch {number} ({why})" for number, why in sorted(damaged.items())]
    return f"{len(parts)} damaged stored batch{'es' if len(parts) > 1 else ''}: " + ", ".join(parts)


def _progress(enabled: bool, total: int, done: int, label: str = "attribute") -> Any:
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
