"""``relscope concepts``: channel relevances and reference samples of layers over a data set.

The model, data and composite flags are those of ``relscope attribute``; the run is
:func:`~relscope.core.runs.concepts_run.concepts_dataset` (resumable with ``--resume``), writing
``concepts.h5`` (layout: docs/formats.md, "Concepts"); ``--project`` references it from a project
YAML (creating one when the file does not exist yet).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.cli.argument_types import parse_param, positive_int, target
from relscope.core.cli.run_arguments import (
    add_batching_arguments,
    add_data_arguments,
    add_distributed_arguments,
    add_model_arguments,
    add_sample_arguments,
    batching,
    data_spec,
    model_spec,
)

FORMAT = "relscope-concepts/1"


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope concepts``."""
    parser = subparsers.add_parser(
        "concepts",
        help="per-channel concept relevances and reference samples of layers (CRP)",
        description="For every sample, each channel's relevance and maximal activation at the "
        "given layers; for every channel its top-k reference samples by relevance (RelMax) and "
        "by activation (ActMax), each with its conditional heatmap and the box of its region.",
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    add_sample_arguments(parser)
    group = parser.add_argument_group("concepts")
    group.add_argument(
        "--composite", required=True, help="composite name (relscope list composites)"
    )
    group.add_argument(
        "--composite-param", type=parse_param, action="append", default=[], metavar="KEY=VALUE"
    )
    group.add_argument(
        "--layer",
        action="append",
        required=True,
        help="layer (module name, e.g. features.13) whose channels are the concepts; repeatable",
    )
    group.add_argument(
        "--top-k", type=positive_int, default=8, help="reference samples per channel"
    )
    group.add_argument(
        "--target", type=target, default="label", help="label, prediction or a class index"
    )
    group.add_argument(
        "--init",
        choices=("logit", "one"),
        default="logit",
        help="relevance at the target output: its logit (as CRP; default) or one",
    )
    add_batching_arguments(parser)
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", type=Path, required=True, help="concepts HDF5 to write")
    run_group.add_argument("--resume", action="store_true", help="continue an interrupted run")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group.add_argument(
        "--project", type=Path, help="reference the output from this project YAML (made if absent)"
    )
    run_group.add_argument("--project-name", help="name of a new project (default: data name)")
    add_distributed_arguments(
        parser,
        "compute this torchrun rank's shard into OUT.shards/; rank 0 then joins the shards "
        "into OUT (the top-k references and their heatmaps), equal to a single-process run",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve model, data and composite (before anything is written), run, print the outcome
    (with ``--distributed``, inside the torchrun process group)."""
    from relscope.core.runs.dataset_attribution import DatasetAttribution

    spec = DatasetAttribution(
        model=model_spec(args),
        data=data_spec(args),
        out=args.out,
        composite=args.composite,
        composite_params=dict(args.composite_param),
        target=args.target,
        batching=batching(args),
        resume=args.resume,
    )
    if not args.distributed:
        return _concepts(args, spec, None)
    from relscope.core.runs.torchrun_group import torchrun_group

    with torchrun_group(args.dist_backend, args.dist_timeout) as group:
        return _concepts(args, spec, group)


def _concepts(args: argparse.Namespace, spec: Any, group: Any) -> int:
    import attrs

    prepared = spec.prepare(group)
    out = prepared.out
    options = {
        "indices": prepared.indices,
        "preprocessing": prepared.preprocessing,
        "target": args.target,
        "top_k": args.top_k,
        "batching": attrs.evolve(spec.batching, device=prepared.device),
        "resume": args.resume,
        "init": args.init,
    }
    config = {**prepared.config(), "format": FORMAT}
    inputs = prepared.source.inputs
    try:
        if group is None:
            from relscope.core.runs.concepts_run import concepts_dataset

            result = concepts_dataset(
                prepared.attributor, inputs, out, args.layer, config,
                progress=not args.quiet, **options,
            )  # fmt: skip
        else:
            from relscope.core.runs.concepts_distributed import concepts_distributed

            result = concepts_distributed(
                group, prepared.attributor, inputs, out, args.layer, config,
                progress=not args.quiet and group.rank == 0, **options,
            )  # fmt: skip
    finally:
        inputs.close()
    if group is not None:
        if group.rank != 0:
            return 0
        files = sum(1 for outcome in result.outcomes if outcome.samples)
        state = "joined" if result.joined else "already complete"
        print(
            f"{out}: concepts of {', '.join(args.layer)} ({len(prepared.indices)} samples in "
            f"{files} shards, {state})"
        )
    else:
        state = (
            "already complete" if result.already_complete else f"{len(prepared.indices)} samples"
        )
        print(f"{out}: concepts of {', '.join(args.layer)} ({state})")
    if args.project is not None:
        _reference_from_project(args, prepared.source, out)
    return 0


def _reference_from_project(args: argparse.Namespace, source: Any, out: Path) -> None:
    """Add ``out`` to the project's concepts sources, or write a new project that names it."""
    from relscope.core.data.project import read_project, write_project, write_project_files

    if args.project.exists():
        project = read_project(args.project)
        if out not in project.concepts:
            project.concepts.append(out)
        write_project(project, args.project)
    else:
        path = write_project_files(
            args.project,
            name=args.project_name or source.dataset.name,
            model=args.model,
            dataset=source.dataset,
            label_map=source.label_map,
            label_map_path=args.label_map,
        )
        project = read_project(path)
        project.concepts.append(out)
        write_project(project, path)
    print(f"{args.project}: project references {out.name}")
