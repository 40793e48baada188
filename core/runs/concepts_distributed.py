"""``relscope concepts --distributed``: every torchrun rank runs pass 1 (channel relevances and
activations of its samples) over its shard into its own resumable shard file; rank 0 then streams
the shards back in single-process batch order through the ordinary assembly (the per-channel
top-k buffers and the reference heatmaps of pass 2) into ``--out``.

Sharding is the one of ``relscope attribute --distributed`` (:mod:`relscope.core.runs.shards`):
whole single-process batches dealt round robin, each seeded with its run-wide number. Rank 0 feeds
the top-k buffers batch by batch in the single-process order, so the joined file equals a
single-process run: same rows, same references (ties included), same heatmaps, same
configuration. Unlike attributions, concept rows are small (channels per sample), so ``--out`` is
a plain file, not a virtual one; the shard files stay in ``<out>.shards/`` as the resume state
(a rerun with ``--resume`` redoes only what is missing in each shard, then joins again).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from relscope.core.data.atomic import atomic_path
from relscope.core.errors import DataFormatError, DistributedError, RelscopeError
from relscope.core.runs.batch_loop import (
    CONFIG_ATTRIBUTE,
    CONFIG_HASH_ATTRIBUTE,
    Batching,
    run_batches,
    stored_config_hash,
)
from relscope.core.runs.concepts_run import (
    RELEVANCE_INITS,
    ConceptsJob,
    check_layers,
    concepts_config,
)
from relscope.core.runs.distributed import ShardOutcome, gather_outcomes
from relscope.core.runs.identity import canonical_config, config_differences, config_hash
from relscope.core.runs.samples import Preprocessing, SampleDataset, collate
from relscope.core.runs.shards import Shard, foreign_shard_files


@attrs.frozen
class ConceptsDistributedResult:
    """Every rank's outcome, whether rank 0 (re)wrote ``--out``, and this rank's shard file."""

    outcomes: tuple[ShardOutcome, ...]
    joined: bool
    shard: Path


class ConceptsShardJob(ConceptsJob):
    """Pass 1 of a shard: the rows of its batches as they are, into a plain shard file."""

    def assemble(
        self, out: Path, batches: Iterator[dict[str, np.ndarray]], attributes: dict[str, str]
    ) -> None:
        """Concatenate the stored batches (every key) into ``out``, atomically."""
        import h5py

        with atomic_path(out) as temp, h5py.File(temp, "w") as file:
            for key, value in attributes.items():
                file.attrs[key] = value
            for batch in batches:
                for key, rows in batch.items():
                    if key not in file:
                        file.create_dataset(
                            key, data=rows, maxshape=(None, *rows.shape[1:]), chunks=True
                        )
                    else:
                        dataset = file[key]
                        start = dataset.shape[0]
                        dataset.resize(start + len(rows), axis=0)
                        dataset[start:] = rows


def shard_batches(
    files: Sequence[Path], samples: int, batch_size: int
) -> Iterator[dict[str, np.ndarray]]:
    """The batches of a run over ``len(files)`` shards in single-process order: batch ``k`` is
    local batch ``k // W`` of shard ``k % W`` (only the run's last batch may be short)."""
    import h5py

    world_size = len(files)
    handles = [h5py.File(path, "r") if path.exists() else None for path in files]
    try:
        for number in range(math.ceil(samples / batch_size)):
            handle = handles[number % world_size]
            if handle is None:
                raise DataFormatError(f"{files[number % world_size]}: shard file is missing")
            start = (number // world_size) * batch_size
            stop = start + min(batch_size, samples - number * batch_size)
            yield {key: handle[key][start:stop] for key in handle}
    finally:
        for handle in handles:
            if handle is not None:
                handle.close()


def _check_same_run(group: Any, config: dict[str, Any]) -> None:
    """Refuse to start when the ranks would not compute one run (other weights, other data)."""
    configs = group.all_gather(canonical_config(config))
    differing = sorted(
        {key for other in configs[1:] for key in config_differences(configs[0], other)}
    )
    if differing:
        raise DistributedError(
            f"rank {group.rank}/{group.world_size}: the ranks disagree on {', '.join(differing)}"
        )


def concepts_distributed(
    group: Any,
    attributor: Any,
    inputs: Any,
    out: str | Path,
    layers: Sequence[str],
    config: dict[str, Any],
    *,
    indices: Sequence[int],
    preprocessing: Preprocessing = Preprocessing(),
    target: str | int = "label",
    top_k: int = 8,
    batching: Batching = Batching(),
    resume: bool = False,
    progress: bool = False,
    init: str = "logit",
) -> ConceptsDistributedResult:
    """Pass 1 over this rank's shard of ``indices``, wait for every rank, and (rank 0) join.

    The arguments are those of :func:`~relscope.core.runs.concepts_run.concepts_dataset`. A rank
    whose shard fails reports its error to the others; every rank then stops with a
    DistributedError (finished batches stay resumable), rank 0 without joining.
    """
    if init not in RELEVANCE_INITS:
        raise DistributedError(f"relevance init must be one of {', '.join(RELEVANCE_INITS)}")
    out = Path(out)
    todo = [int(i) for i in indices]
    if not todo:
        raise DataFormatError(f"{inputs.path}: no samples")
    first = collate([SampleDataset(inputs, todo[:1])[0]])[0]
    check_layers(attributor, preprocessing.normalise(first.to(batching.device)), layers)
    whole = concepts_config(config, layers, top_k, target, init, batching)
    _check_same_run(group, whole)
    size = batching.batch_size
    shard = Shard(group.rank, group.world_size)
    mine = shard.indices(todo, size)
    path = shard.path(out)
    outcome = ShardOutcome(group.rank, len(mine), already_complete=not mine)
    if mine:
        job = ConceptsShardJob(
            attributor, inputs, layers, target, top_k, preprocessing, batching, init
        )
        try:
            result = run_batches(
                job,
                inputs,
                path,
                {**whole, "shard": {"rank": group.rank, "world_size": group.world_size}},
                mine,
                preprocessing=preprocessing,
                batching=batching,
                resume=resume,
                progress=progress,
                batch_numbers=shard.batch_numbers(len(todo), size),
                progress_label=f"concepts [rank {group.rank}/{group.world_size}]",
            )
            outcome = ShardOutcome(
                group.rank,
                len(mine),
                result.attributed,
                result.resumed_from,
                result.already_complete,
            )
        except RelscopeError as exc:
            outcome = ShardOutcome(group.rank, len(mine), error=str(exc))
    outcomes = gather_outcomes(group, outcome)
    joined = False
    if group.rank == 0:
        canonical = canonical_config(whole)
        digest = config_hash(canonical)
        up_to_date = (
            all(o.already_complete for o in outcomes)
            and out.is_file()
            and stored_config_hash(out) == digest
        )
        if not up_to_date:
            files = [Shard(r, group.world_size).path(out) for r in range(group.world_size)]
            attributes = {
                CONFIG_ATTRIBUTE: json.dumps(canonical, sort_keys=True),
                CONFIG_HASH_ATTRIBUTE: digest,
            }
            job = ConceptsJob(
                attributor, inputs, layers, target, top_k, preprocessing, batching, init
            )
            job.assemble(out, shard_batches(files, len(todo), size), attributes)
            joined = True
        for stale in foreign_shard_files(out, group.world_size):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            print(
                f"relscope: removed {stale} (from a run with another world size)", file=sys.stderr
            )
    return ConceptsDistributedResult(outcomes, joined, path)
