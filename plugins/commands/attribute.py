"""``relscope attribute``: attribute a whole data set into a ViRelAy-compatible attribution file.

The flags become a :class:`~relscope.core.runs.dataset_attribution.DatasetAttribution` (resumable
with ``--resume``, sharded under torchrun with ``--distributed``); this module prints outcomes
and, with ``--project``, writes a project YAML and label map next to the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.cli.argument_types import parse_param, target
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


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope attribute``."""
    parser = subparsers.add_parser(
        "attribute",
        help="attribute a whole data set into an attribution HDF5 file",
        description="Attribute every sample of a data set with a composite (LRP) or another "
        "attributor and write attribution, prediction, label (and index for subsets) to an "
        "HDF5 file that ViRelAy and the relscope explorer read. Interrupted runs resume with "
        "--resume.",
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    add_sample_arguments(parser)
    group = parser.add_argument_group("attribution")
    group.add_argument(
        "--composite",
        required=True,
        help="composite name (relscope list composites), or 'none' for plain gradients",
    )
    for kind in ("composite", "attributor"):
        group.add_argument(
            f"--{kind}-param",
            type=parse_param,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"{kind} parameter (repeatable)",
        )
    group.add_argument(
        "--attributor", default="gradient", help="attributor name (relscope list attributors)"
    )
    group.add_argument(
        "--target",
        type=target,
        default="label",
        help="label (true label), prediction (argmax), a class index, or next-token (causal "
        "LMs on token data: the data's last token; default: label)",
    )
    add_batching_arguments(parser)
    run_group = parser.add_argument_group("run")
    run_group.add_argument("--out", type=Path, required=True, help="attribution HDF5 to write")
    run_group.add_argument(
        "--resume", action="store_true", help="continue an interrupted run with the same options"
    )
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group.add_argument(
        "--project",
        type=Path,
        help="also write this project YAML (and a label map next to it); its "
        "attribution_strategy is true_label for --target label, else predicted_label",
    )
    run_group.add_argument("--project-name", help="name shown for the project (default: data name)")
    add_distributed_arguments(
        parser,
        "attribute this torchrun rank's shard into OUT.shards/; rank 0 then joins the "
        "shards into OUT (an HDF5 virtual-dataset file); see README: Running on a cluster",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the run from the flags and run it (with ``--distributed``, inside the torchrun
    process group); everything is resolved before any output exists."""
    from relscope.core.runs.dataset_attribution import DatasetAttribution

    spec = DatasetAttribution(
        model=model_spec(args),
        data=data_spec(args),
        out=args.out,
        composite=args.composite,
        composite_params=dict(args.composite_param),
        attributor=args.attributor,
        attributor_params=dict(args.attributor_param),
        target=args.target,
        batching=batching(args),
        resume=args.resume,
    )
    if not args.distributed:
        return _attribute(args, spec, None)
    from relscope.core.runs.torchrun_group import torchrun_group

    with torchrun_group(args.dist_backend, args.dist_timeout) as group:
        return _attribute(args, spec, group)


def _attribute(args: argparse.Namespace, spec: Any, group: Any) -> int:
    prepared = spec.prepare(group)
    out, count = prepared.out, len(prepared.indices)
    if prepared.preprocessing.channels is not None and not args.quiet:
        print(
            f"relscope: grey images repeated to {prepared.preprocessing.channels} channels "
            f"for {args.model}",
            file=sys.stderr,
        )
    try:
        result = prepared.run(group, progress=not args.quiet)
    except KeyboardInterrupt:
        from relscope.core.cli.interrupted_run import note_kept_batches

        note_kept_batches(prepared.output_path(group))
        raise
    if group is not None:
        if not args.quiet:
            state = _shard_state(result.outcomes[group.rank])
            print(f"rank {group.rank}/{group.world_size}: {result.shard}: {state}", file=sys.stderr)
        if group.rank != 0:
            return 0
        if not result.joined and not args.quiet:
            print(f"{out}: already complete with this configuration", file=sys.stderr)
        files = sum(1 for outcome in result.outcomes if outcome.samples)
        print(f"{out}: {count} attributions in {files} shards")
    else:
        if not args.quiet:
            if result.already_complete:
                print(f"{out}: already complete with this configuration", file=sys.stderr)
            elif result.resumed_from:
                print(f"{out}: resumed after {result.resumed_from} samples", file=sys.stderr)
            if result.discarded_partial:
                print(
                    f"{out}: started over; the earlier partial run (no --resume) was discarded",
                    file=sys.stderr,
                )
        print(f"{out}: {count} attributions")
    if args.project is not None:
        from relscope.core.data.project import AttributionsSpec, write_project_files

        strategy = "true_label" if args.target == "label" else "predicted_label"
        method = args.composite if args.composite != "none" else args.attributor
        source = prepared.source
        project_path = write_project_files(
            args.project,
            name=args.project_name or source.dataset.name,
            model=args.model,
            dataset=source.dataset,
            label_map=source.label_map,
            label_map_path=args.label_map,
            attributions=AttributionsSpec(method, strategy, [out]),
        )
        print(f"{project_path}: project written")
    return 0


def _shard_state(outcome: Any) -> str:
    """One rank's shard in words, for its line on stderr."""
    if outcome.samples == 0:
        return "no batches (fewer batches than ranks)"
    if outcome.already_complete:
        return "already complete"
    if outcome.resumed_from:
        return f"resumed after {outcome.resumed_from} samples"
    return f"{outcome.attributed} samples attributed"
