"""``relscope analyze``: run an analysis pipeline (SpRAy by default) per category, write the file.

Each category (label of the label map) is analysed on its own; the outputs go to the analysis
HDF5 layout (``embedding/spectral`` with eigenvalues, ``embedding/tsne``, ``cluster/kmeans-NN``,
...) and, with ``--project``, into the project's ``analyses`` list.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from relscope.core import hookimpl
from relscope.core.errors import AnalyzeError, ProcessorError


def parse_clusters(text: str) -> tuple[int, ...]:
    """``"2..30"`` -> 2, 3, ..., 30; ``"2,4,8"`` -> those; each at least 1."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split("..", 1))
            values = tuple(range(low, high + 1))
        else:
            values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise AnalyzeError(
            f"--clusters: expected A..B or a comma list of ints, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise AnalyzeError(f"--clusters: expected numbers of clusters >= 1, got {text!r}")
    return values


@hookimpl
def register_commands(subparsers: Any) -> None:
    """Declare ``relscope analyze ATTRIBUTION.h5 --label-map JSON --out ANALYSIS.h5 [...]``."""
    parser = subparsers.add_parser(
        "analyze",
        help="spectral relevance analysis (SpRAy) of attributions, per category",
        description="Analyse the attributions of each category with a pipeline (default: spray) "
        "and write embeddings and clusterings to an analysis HDF5 file.",
    )
    parser.add_argument("attribution", type=Path, nargs="+", help="attribution HDF5 file(s)")
    parser.add_argument("--label-map", type=Path, required=True, help="label-map JSON")
    parser.add_argument("--out", type=Path, required=True, help="analysis HDF5 file to write")
    parser.add_argument(
        "--categories",
        nargs="+",
        default=None,
        metavar="CATEGORY",
        help="word_net_ids, names or label indices (default: every category with data)",
    )
    parser.add_argument("--pipeline", default="spray", help="registered pipeline (default: spray)")
    parser.add_argument("--n-eigval", type=int, default=32, help="eigenvalues to compute (32)")
    parser.add_argument("--n-neighbors", type=int, default=32, help="k of the kNN graph (32)")
    parser.add_argument(
        "--clusters",
        type=parse_clusters,
        default=parse_clusters("2..30"),
        help="numbers of clusters, A..B or a comma list (default: 2..30)",
    )
    parser.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="TASK=PROCESSOR",
        help="replace a pipeline task by a registered processor, e.g. reduce=random_projection",
    )
    parser.add_argument("--cache", type=Path, default=None, help="HDF5 cache of every step")
    parser.add_argument("--project", type=Path, default=None, help="add the result to this project")
    parser.add_argument("--method", default=None, help="analysis_method name in the project")
    parser.add_argument("--min-points", type=int, default=10, help="skip smaller categories (10)")
    parser.add_argument("--jobs", type=int, default=1, help="clusterings run side by side (1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads per step (default: all cores; 1 on a busy shared machine)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _pipeline(args: argparse.Namespace) -> Any:
    from relscope.core.analysis import Processor, as_processor
    from relscope.core.registry import get_registry

    spec = get_registry("processors").lookup(args.pipeline)
    if isinstance(spec, Processor):
        return spec
    fields = attrs.fields_dict(spec) if attrs.has(spec) else {}
    params: dict[str, Any] = {}
    for name, value in (
        ("n_eigval", args.n_eigval),
        ("n_neighbors", args.n_neighbors),
        ("n_clusters", args.clusters),
        ("n_jobs", args.jobs),
    ):
        if name in fields:
            params[name] = value
    tasks = spec.task_names() if hasattr(spec, "task_names") else []
    for item in args.task:
        name, sep, processor_name = item.partition("=")
        if not sep or not processor_name:
            raise AnalyzeError(f"--task: expected TASK=PROCESSOR, got {item!r}")
        if name not in tasks:
            raise AnalyzeError(
                f"--task: pipeline {args.pipeline!r} has no task {name!r}; tasks: {', '.join(tasks)}"
            )
        params[name] = processor_name
    return as_processor(spec, **params)


def _select_categories(label_map: Any, wanted: list[str] | None) -> list[Any]:
    if not wanted:
        return list(label_map)
    chosen = []
    for item in wanted:
        matches = [e for e in label_map if item in (e.word_net_id, e.name) or item == str(e.index)]
        if not matches:
            raise AnalyzeError(
                f"--categories: {item!r} is no word_net_id, name or index of the label map "
                f"{label_map.source}"
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def _progress_printer(prefix: str) -> Any:
    def report(event: Any) -> None:
        if event.status == "start":
            return
        step = "/".join(event.path) or event.processor
        note = "cached" if event.status == "cached" else f"{event.seconds:.2f} s"
        print(f"relscope: {prefix} {step}: {note}", file=sys.stderr, flush=True)

    return report


def run(args: argparse.Namespace) -> int:
    """Analyse every selected category and write the analysis file (and project entry)."""
    if args.threads is not None and args.threads < 1:
        raise AnalyzeError(f"--threads: expected at least 1, got {args.threads}")
    if args.jobs < 1:
        raise AnalyzeError(f"--jobs: expected at least 1, got {args.jobs}")
    if args.threads is None:
        return _run(args)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from relscope.core.analysis import Store, category_analysis
    from relscope.core.analysis.category_data import category_indices, load_attributions
    from relscope.core.data.analysis import write_analysis
    from relscope.core.data.attributions import AttributionSet
    from relscope.core.data.label_map import read_label_map

    if args.cache is not None and args.cache.resolve() == args.out.resolve():
        raise AnalyzeError(f"--cache {args.cache}: must not be the output file")
    if args.project is not None and not args.project.is_file():
        raise AnalyzeError(f"--project {args.project}: project file not found")
    if args.min_points < 3:
        raise AnalyzeError(f"--min-points: expected at least 3, got {args.min_points}")
    label_map = read_label_map(args.label_map)
    pipeline = _pipeline(args)
    store = Store(args.cache) if args.cache is not None else None
    attributions = AttributionSet(args.attribution, label_map=label_map)
    members = category_indices(attributions, label_map)
    categories = [e for e in _select_categories(label_map, args.categories)]
    results = {}
    started = time.perf_counter()
    try:
        for number, entry in enumerate(categories, 1):
            index = members.get(entry.index, np.zeros(0, dtype=np.int64))
            prefix = f"[{number}/{len(categories)}] {entry.word_net_id}"
            if len(index) < args.min_points:
                if not args.quiet or args.categories:
                    print(
                        f"relscope: {prefix} ({entry.name}): {len(index)} points, fewer than "
                        f"--min-points {args.min_points}; skipped",
                        file=sys.stderr,
                    )
                continue
            if not args.quiet:
                print(f"relscope: {prefix} ({entry.name}): {len(index)} points", file=sys.stderr)
            data = load_attributions(attributions, index)
            progress = None if args.quiet else _progress_printer(prefix)
            try:
                outputs = pipeline(data, io=store, progress=progress)
            except ProcessorError as exc:
                raise ProcessorError(f"category {entry.word_net_id}: {exc}") from None
            results[entry.word_net_id] = category_analysis(index, outputs)
    finally:
        attributions.close()
    if not results:
        raise AnalyzeError(
            f"no category has at least --min-points {args.min_points} points with attributions"
        )
    write_analysis(results, args.out)
    if args.project is not None:
        _add_to_project(args.project, args.method or args.pipeline, args.out)
    if not args.quiet:
        print(
            f"relscope: wrote {len(results)} categories to {args.out} in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return 0


def _add_to_project(path: Path, method: str, out: Path) -> None:
    from relscope.core.data.project import AnalysisSpec, read_project, write_project

    if "-" in method:
        raise AnalyzeError(f"--method {method!r}: analysis method names may not contain '-'")
    project = read_project(path)
    out = out.absolute()
    for spec in project.analyses:
        if spec.analysis_method == method:
            if out not in [Path(p).absolute() for p in spec.sources]:
                spec.sources.append(out)
            break
    else:
        project.analyses.append(AnalysisSpec(analysis_method=method, sources=[out]))
    write_project(project, path)
