"""``relscope project new``: write a project YAML (and its label map) for data and result files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from relscope.core import hookimpl
from relscope.core.cli.run_arguments import add_data_arguments, image_options
from relscope.core.errors import DataFormatError


def _analysis(text: str) -> tuple[str, Path]:
    method, sep, path = text.partition("=")
    if not sep or not method or not path:
        raise argparse.ArgumentTypeError(f"expected METHOD=FILE, got {text!r}")
    return method, Path(path)


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope project new``."""
    parser = subparsers.add_parser("project", help="create project files for the explorer")
    actions = parser.add_subparsers(dest="project_command", metavar="ACTION", required=True)
    new = actions.add_parser(
        "new",
        help="write a project YAML and a label map next to it",
        description="Write a project YAML (paths relative to it) naming a data set, its "
        "attribution files and analyses; the label map is written next to it unless "
        "--label-map names one.",
    )
    add_data_arguments(new)
    new.add_argument("--out", type=Path, required=True, help="project YAML to write")
    new.add_argument("--name", help="project name shown in the explorer (default: data name)")
    new.add_argument("--model", default="unknown", help="model name shown in the explorer")
    new.add_argument("--attributions", type=Path, nargs="+", help="attribution HDF5 file(s)")
    new.add_argument("--attribution-method", help="how they were computed (e.g. the composite)")
    new.add_argument(
        "--attribution-strategy", choices=("true_label", "predicted_label"), default="true_label"
    )
    new.add_argument(
        "--analysis",
        type=_analysis,
        action="append",
        default=[],
        metavar="METHOD=FILE",
        help="an analysis file (repeatable; equal methods are merged)",
    )
    new.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    """Open the data (validating it), check the result files, write label map and YAML."""
    from relscope.core.data.attributions import AttributionSet
    from relscope.core.data.project import AnalysisSpec, AttributionsSpec, write_project_files
    from relscope.core.data.sources import open_data_source

    out = args.out.absolute()
    options = image_options(args)
    source = open_data_source(
        args.data,
        workdir=out.parent,
        label_map_path=args.label_map,
        image_options=options,
        data_out=args.data_out,
    )
    attributions = None
    if args.attributions:
        AttributionSet(args.attributions, label_map=source.label_map, inputs=source.inputs).close()
        method = args.attribution_method
        if not method:
            raise DataFormatError("--attributions needs --attribution-method (e.g. the composite)")
        attributions = AttributionsSpec(
            method, args.attribution_strategy, [p.absolute() for p in args.attributions]
        )
    merged: dict[str, AnalysisSpec] = {}
    for method, path in args.analysis:
        if not path.is_file():
            raise DataFormatError(f"{path}: analysis file not found")
        merged.setdefault(method, AnalysisSpec(method, [])).sources.append(path.absolute())
    source.inputs.close()
    written = write_project_files(
        out,
        name=args.name or source.dataset.name,
        model=args.model,
        dataset=source.dataset,
        label_map=source.label_map,
        label_map_path=args.label_map,
        attributions=attributions,
        analyses=list(merged.values()),
    )
    print(f"{written}: project written")
    return 0
