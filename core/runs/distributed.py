"""``relscope attribute --distributed``: every torchrun rank attributes its shard into its own
resumable attribution file; rank 0 then joins the shards into ``--out``.

Sharding (see :mod:`relscope.core.runs.shards`): whole single-process batches, dealt
round robin, each seeded with its run-wide number, so the joined result equals a single-process
run row for row, bit for bit, whatever the number of processes or nodes.

Output: ``<out>.shards/shard-RRRRR-of-WWWWW.h5`` per rank (with ``index``, so each shard is also
a valid attribution file on its own, and the set is a valid ViRelAy ``sources: [...]`` split), and
``<out>`` written by rank 0 as an HDF5 virtual-dataset file over the shards
(:mod:`relscope.core.data.virtual_attribution`). Chosen over the alternatives because:

- a merged copy would make rank 0 read and rewrite every attribution (hundreds of GB at ImageNet
  scale) on one node, after the parallel part is over; the virtual file is written in
  milliseconds, independent of the data size;
- a list of split files would change what ``--out`` is: every consumer (``relscope analyze``,
  ``heatmap``, projects, scripts) would need the list; the virtual file is one path, with the rows
  in single-process order and ``index`` exactly when a single-process run writes it, so nothing
  downstream can tell the difference;
- HDF5 >= 1.10 (h5py, hence ViRelAy) reads virtual datasets transparently. The price: the
  ``.shards`` folder must stay beside the file (readers check and name a missing shard).

Resume is per shard: each rank resumes its own ``.partial`` folder (the ordinary partial-run
machinery, with the shard's rank and world size in its configuration); a rerun with
``--resume`` redoes only what is missing and then re-joins.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import h5py

from relscope.core.data.inputs import InputSource
from relscope.core.data.virtual_attribution import (
    missing_virtual_sources,
    write_virtual_attribution,
)
from relscope.core.errors import DistributedError, RelscopeError
from relscope.core.runs.attribution_run import (
    CONFIG_ATTRIBUTE,
    CONFIG_HASH_ATTRIBUTE,
    Preprocessing,
    attribute_dataset,
    run_config,
    stored_config_hash,
)
from relscope.core.runs.partial_run import canonical_config, config_differences, config_hash
from relscope.core.runs.shards import Shard, foreign_shard_files
from relscope.core.runs.torchrun_group import TorchrunGroup

#: attribute of the joined file: its shard files, relative to it
SHARDS_ATTRIBUTE = "relscope_shards"


@attrs.frozen
class ShardOutcome:
    """What one rank did with its shard (gathered by every rank): samples in the shard, samples
    attributed now, samples found done, and the error that stopped it, if any."""

    rank: int
    samples: int
    attributed: int = 0
    resumed_from: int = 0
    already_complete: bool = False
    error: str | None = None


def gather_outcomes(group: Any, outcome: Any) -> tuple[Any, ...]:
    """Every rank's outcome (each has ``rank`` and ``error``), gathered on every rank; a
    DistributedError when any rank failed, naming this rank's error or the ranks that failed."""
    outcomes = tuple(group.all_gather(outcome))
    failed = [o.rank for o in outcomes if o.error is not None]
    if failed:
        if outcome.error is not None:
            raise DistributedError(f"rank {group.rank}/{group.world_size}: {outcome.error}")
        ranks = ", ".join(str(rank) for rank in failed)
        raise DistributedError(
            f"rank {group.rank}/{group.world_size}: stopped because rank(s) {ranks} failed; "
            "finished batches are kept, rerun with --resume"
        )
    return outcomes


@attrs.frozen
class DistributedResult:
    """Every rank's outcome, and whether rank 0 (re)wrote the joined file."""

    outcomes: tuple[ShardOutcome, ...]
    joined: bool
    shard: Path


def attribute_distributed(
    group: TorchrunGroup,
    attributor: Any,
    inputs: InputSource,
    out: str | Path,
    config: dict[str, Any],
    *,
    indices: Sequence[int],
    preprocessing: Preprocessing = Preprocessing(),
    target: str | int = "label",
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    job_class: Any = None,
) -> DistributedResult:
    """Attribute this rank's shard of ``indices``, wait for every rank, and (rank 0) join.

    Every rank must describe the same run (``config``, e.g. the model's parameter hash), else all
    stop before any work. A rank whose shard fails reports its error to the others; every rank
    then stops with a DistributedError (finished batches stay resumable), rank 0 without joining.
    """
    out = Path(out)
    indices = [int(i) for i in indices]
    _check_same_run(group, config)
    shard = Shard(group.rank, group.world_size)
    mine = shard.indices(indices, batch_size)
    path = shard.path(out)
    outcome = ShardOutcome(group.rank, len(mine), already_complete=not mine)
    if mine:
        try:
            result = attribute_dataset(
                attributor,
                inputs,
                path,
                {**config, "shard": {"rank": group.rank, "world_size": group.world_size}},
                indices=mine,
                preprocessing=preprocessing,
                target=target,
                batch_size=batch_size,
                device=device,
                workers=workers,
                resume=resume,
                seed=seed,
                progress=progress,
                batch_numbers=shard.batch_numbers(len(indices), batch_size),
                with_index=True,
                progress_label=f"attribute [rank {group.rank}/{group.world_size}]",
                job_class=job_class,
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
        joined = join_shards(out, outcomes, inputs, config, indices, batch_size, target, seed)
    return DistributedResult(outcomes, joined, path)


def _check_same_run(group: TorchrunGroup, config: dict[str, Any]) -> None:
    """Refuse to start when the ranks would not compute one run: e.g. a model with random weights
    built unseeded on each rank, or a data folder that differs between nodes."""
    configs = group.all_gather(canonical_config(config))
    differing = sorted(
        {key for other in configs[1:] for key in config_differences(configs[0], other)}
    )
    if differing:
        hint = " (random weights? give --weights, or a factory that seeds them)"
        raise DistributedError(
            f"rank {group.rank}/{group.world_size}: the ranks disagree on "
            f"{', '.join(differing)}{hint if 'model_state' in differing else ''}"
        )


def join_shards(
    out: Path,
    outcomes: Sequence[ShardOutcome],
    inputs: InputSource,
    config: dict[str, Any],
    indices: Sequence[int],
    batch_size: int,
    target: str | int,
    seed: int,
) -> bool:
    """Write ``out`` over the shard files (unless it is already up to date) with the
    configuration a single-process run records, and drop shards of other world sizes.

    Returns whether ``out`` was written.
    """
    world_size = len(outcomes)
    shape = inputs.attribution_shape(int(indices[0]))
    whole = canonical_config(run_config(config, shape, batch_size, target, seed))
    digest = config_hash(whole)
    files = [(Shard(o.rank, world_size), Shard(o.rank, world_size).path(out)) for o in outcomes]
    files = [(shard, path) for (shard, path), o in zip(files, outcomes) if o.samples]
    up_to_date = (
        all(o.already_complete for o in outcomes)
        and out.is_file()
        and stored_config_hash(out) == digest
        and not _missing_shards(out)
    )
    if not up_to_date:
        write_virtual_attribution(
            out,
            files,
            len(indices),
            batch_size,
            with_index=list(indices) != list(range(len(inputs))),
            extra_keys=("input_ids",) if getattr(inputs, "is_tokens", False) else (),
            attributes={
                CONFIG_ATTRIBUTE: json.dumps(whole, sort_keys=True),
                CONFIG_HASH_ATTRIBUTE: digest,
                SHARDS_ATTRIBUTE: json.dumps(
                    [str(path.relative_to(out.parent)) for _, path in files]
                ),
            },
        )
    for stale in foreign_shard_files(out, world_size):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        print(f"relscope: removed {stale} (from a run with another world size)", file=sys.stderr)
    return not up_to_date


def _missing_shards(path: Path) -> list[str]:
    try:
        with h5py.File(path, "r") as file:
            return missing_virtual_sources(file)
    except OSError:
        return ["<unreadable>"]
