"""``relscope evaluate``: how faithful are these attributions on this model and data?

Pixel flipping (MoRF/LeRF), AOPC, ABPC, sanity checks and completeness for one or more
attribution files of the same data, side by side with baselines computed on the fly (plain
gradient, random, optionally integrated gradients), into one JSON file (and a PNG with --plot).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.cli.argument_types import positive_int, target
from relscope.core.cli.run_arguments import (
    add_batching_arguments,
    add_data_arguments,
    add_model_arguments,
    add_sample_arguments,
    batching,
    data_spec,
    model_spec,
)

DEFAULT_METRICS = "pixel_flipping,aopc,abpc"


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure how faithful attributions are (pixel flipping, AOPC, sanity checks)",
        description="Evaluate attribution files of one data set with perturbation curves and "
        "their areas, randomisation sanity checks and completeness, against baselines computed "
        "on the fly; every curve and score gets a bootstrap 95 %% interval.",
    )
    parser.add_argument("attributions", type=Path, nargs="+", help="attribution HDF5 file(s)")
    parser.add_argument(
        "--compare", type=Path, nargs="+", default=[], help="more attribution files to compare"
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    add_sample_arguments(parser)
    add_batching_arguments(parser)
    group = parser.add_argument_group("evaluation")
    group.add_argument(
        "--metric",
        default=DEFAULT_METRICS,
        help=f"comma-separated metrics (relscope list metrics; default {DEFAULT_METRICS})",
    )
    group.add_argument(
        "--baselines",
        default="gradient,random",
        help="methods computed on the fly: gradient, random, integrated_gradients, or none",
    )
    group.add_argument(
        "--step", type=int, help="positions perturbed per step (default: 32 steps in all)"
    )
    group.add_argument("--region", type=int, default=1, help="perturb REGION×REGION patches")
    group.add_argument(
        "--baseline",
        default="0",
        help="value of perturbed positions: a number, mean, blur, uniform",
    )
    group.add_argument("--blur-sigma", type=float, default=2.0, help="width of the blur baseline")
    group.add_argument(
        "--target", type=target, default="label", help="label, prediction or a class"
    )
    group.add_argument(
        "--forward-batch",
        type=positive_int,
        help="perturbed copies per forward pass (default 128)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, required=True, help="evaluation JSON to write")
    out.add_argument("--plot", type=Path, help="also draw the MoRF/LeRF curves into this PNG")
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted evaluation from its finished batches (a complete OUT "
        "made with these options is kept)",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse the flags into a :class:`DatasetEvaluation`, run it, print the scores."""
    import json

    from relscope.core.evaluation.methods import baseline_method, file_method, unique_names
    from relscope.core.evaluation.metric import PerturbationSettings
    from relscope.core.evaluation.plot import check_plotting, plot_curves
    from relscope.core.runs.evaluation_run import DatasetEvaluation

    metrics = _names(args.metric)
    if args.plot is not None:
        check_plotting()
        if "pixel_flipping" not in metrics:
            metrics.insert(0, "pixel_flipping")
    baselines = [] if args.baselines.strip() == "none" else _names(args.baselines)
    methods = [file_method(path) for path in [*args.attributions, *args.compare]]
    methods = unique_names([*methods, *(baseline_method(name) for name in baselines)])
    settings = PerturbationSettings(
        step=args.step,
        region=args.region,
        baseline=args.baseline,
        seed=args.seed,
        blur_sigma=args.blur_sigma,
        **({} if args.forward_batch is None else {"forward_batch": args.forward_batch}),
    )
    evaluation = DatasetEvaluation(
        model=model_spec(args),
        data=data_spec(args),
        methods=tuple(methods),
        out=args.out,
        metrics=tuple(metrics),
        settings=settings,
        target=args.target,
        batching=batching(args),
        resume=args.resume,
    )
    prepared = evaluation.prepare()
    try:
        result = prepared.run(progress=not args.quiet)
    except KeyboardInterrupt:
        from relscope.core.cli.interrupted_run import note_kept_batches

        note_kept_batches(prepared.out)
        raise
    if not args.quiet and result.already_complete:
        print(f"{args.out}: already complete with this configuration", file=sys.stderr)
    elif not args.quiet and result.resumed_from:
        print(f"{args.out}: resumed after {result.resumed_from} samples", file=sys.stderr)
    document = json.loads(args.out.read_text(encoding="utf-8"))
    for line in score_lines(document):
        print(line)
    print(f"{args.out}: {len(document['indices'])} samples, {len(methods)} methods")
    if args.plot is not None:
        plot_curves(document, args.plot)
        print(f"{args.plot}: curves drawn")
    return 0


def score_lines(document: dict[str, Any]) -> list[str]:
    """One line per method and per-sample score: mean and its 95 % interval."""
    lines = []
    for name, method in document["methods"].items():
        for metric in method["metrics"].values():
            for key, value in metric.items():
                if isinstance(value, dict) and not isinstance(value.get("mean"), list):
                    lines.append(
                        f"{name:24s} {key:28s} {value['mean']:10.4g} "
                        f"[{value['ci_low']:.4g}, {value['ci_high']:.4g}]"
                    )
    for pair, scores in document["comparisons"].items():
        for key in ("aopc", "abpc"):
            if key in scores:
                score = scores[key]
                verdict = "differs" if score["excludes_zero"] else "not distinguishable"
                lines.append(
                    f"{pair:24s} {key:28s} {score['difference']:10.4g} "
                    f"[{score['ci_low']:.4g}, {score['ci_high']:.4g}] {verdict}"
                )
    return lines
