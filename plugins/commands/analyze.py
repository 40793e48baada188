"""``relscope analyze``: run an analysis pipeline (SpRAy by default) per category, write the file.

Each category (label of the label map) is analysed on its own (one after the other, or as tasks
on a Dask cluster with ``--dask-workers``/``--scheduler``); the outputs go to the analysis
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
    parser.add_argument("attribution", type=Path, nargs="*", help="attribution HDF5 file(s)")
    parser.add_argument("--features", help="analyse concept relevances instead: CONCEPTS.h5:LAYER")
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
    cluster = parser.add_argument_group(
        "cluster (Dask; pip install 'relscope[distributed]', see README: Running on a cluster)"
    ).add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask-workers",
        type=int,
        metavar="N",
        help="analyse categories side by side on a local Dask cluster of N worker processes",
    )
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="analyse categories on the Dask cluster of this scheduler, e.g. tcp://host:8786 "
        "(workers read the attribution files and the cache by the same paths)",
    )
    parser.add_argument(
        "--dask-retries",
        type=int,
        default=2,
        metavar="N",
        help="re-runs of a category task that raised on a Dask worker (default: 2)",
    )
    parser.set_defaults(func=run)


def build_pipeline(
    pipeline: str,
    n_eigval: int,
    n_neighbors: int,
    clusters: tuple[int, ...],
    jobs: int,
    tasks: tuple[str, ...] = (),
) -> Any:
    """The registered ``pipeline`` with the command's parameters and ``TASK=PROCESSOR`` task
    replacements. Module-level, so a ``functools.partial`` of it is the recipe Dask workers use
    to build the same pipeline from their own plugin registry."""
    from relscope.core.analysis import Processor, as_processor
    from relscope.core.registry import get_registry

    spec = get_registry("processors").lookup(pipeline)
    if isinstance(spec, Processor):
        return spec
    fields = attrs.fields_dict(spec) if attrs.has(spec) else {}
    params: dict[str, Any] = {}
    for name, value in (
        ("n_eigval", n_eigval),
        ("n_neighbors", n_neighbors),
        ("n_clusters", clusters),
        ("n_jobs", jobs),
    ):
        if name in fields:
            params[name] = value
    names = spec.task_names() if hasattr(spec, "task_names") else []
    for item in tasks:
        name, sep, processor_name = item.partition("=")
        if not sep or not processor_name:
            raise AnalyzeError(f"--task: expected TASK=PROCESSOR, got {item!r}")
        if name not in names:
            raise AnalyzeError(
                f"--task: pipeline {pipeline!r} has no task {name!r}; tasks: {', '.join(names)}"
            )
        params[name] = processor_name
    return as_processor(spec, **params)


def _pipeline_recipe(args: argparse.Namespace) -> Any:
    import functools

    return functools.partial(
        build_pipeline,
        args.pipeline,
        args.n_eigval,
        args.n_neighbors,
        tuple(args.clusters),
        args.jobs,
        tuple(args.task),
    )


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
    if args.dask_workers is not None and args.dask_workers < 1:
        raise AnalyzeError(f"--dask-workers: expected at least 1, got {args.dask_workers}")
    if args.dask_retries < 0:
        raise AnalyzeError(f"--dask-retries: expected at least 0, got {args.dask_retries}")
    if args.dask_workers is not None or args.scheduler is not None:
        from relscope.core.analysis.dask_runner import import_distributed

        import_distributed("--scheduler" if args.scheduler is not None else "--dask-workers")
        return _run(args)  # --threads applies inside each worker's task
    if args.threads is None:
        return _run(args)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from relscope.core.analysis import Store
    from relscope.core.analysis.category_data import category_indices
    from relscope.core.analysis.category_task import analyse_category
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
    recipe = _pipeline_recipe(args)
    pipeline = recipe()  # built here too: a bad --task fails before any work
    if bool(args.features) == bool(args.attribution) or (
        args.features and (args.scheduler or args.dask_workers)
    ):
        raise AnalyzeError("give attribution files or --features CONCEPTS.h5:LAYER (not on Dask)")
    if args.features:
        from relscope.core.analysis.concept_features import ConceptFeatures

        attributions: Any = ConceptFeatures(args.features)
    else:
        attributions = AttributionSet(args.attribution, label_map=label_map)
    members = category_indices(attributions, label_map)
    categories = [e for e in _select_categories(label_map, args.categories)]
    planned = []
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
        planned.append((entry, index, prefix))
    results = {}
    started = time.perf_counter()
    if planned and (args.dask_workers is not None or args.scheduler is not None):
        attributions.close()
        results = _run_on_dask(args, recipe, planned)
    else:
        store = Store(args.cache) if args.cache is not None else None
        try:
            for entry, index, prefix in planned:
                if not args.quiet:
                    print(
                        f"relscope: {prefix} ({entry.name}): {len(index)} points", file=sys.stderr
                    )
                try:
                    results[entry.word_net_id] = analyse_category(
                        attributions,
                        index,
                        pipeline,
                        store=store,
                        progress=None if args.quiet else _progress_printer(prefix),
                        name=args.pipeline,
                    )
                except ProcessorError as exc:
                    raise ProcessorError(f"category {entry.word_net_id}: {exc}") from None
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


def _run_on_dask(args: argparse.Namespace, recipe: Any, planned: list) -> dict[str, Any]:
    """Analyse the planned categories as Dask tasks (paths and indices only) and gather them."""
    from relscope.core.analysis.category_task import CategoryJob
    from relscope.core.analysis.dask_runner import dask_client, run_jobs

    paths = tuple(str(Path(p).absolute()) for p in args.attribution)
    cache = str(args.cache.absolute()) if args.cache is not None else None
    jobs = [
        CategoryJob(
            entry.word_net_id, index, paths, recipe, cache, args.threads, name=args.pipeline
        )
        for entry, index, _ in planned
    ]
    names = {
        entry.word_net_id: (entry.name, prefix, len(index)) for entry, index, prefix in planned
    }

    def report(outcome: Any, finished: int) -> None:
        if args.quiet:
            return
        name, prefix, count = names[outcome.category]
        print(
            f"relscope: {prefix} ({name}): {count} points in {outcome.seconds:.2f} s on "
            f"{outcome.host} pid {outcome.pid} ({finished}/{len(jobs)} done)",
            file=sys.stderr,
        )

    started = time.perf_counter()
    with dask_client(args.dask_workers, args.scheduler) as client:
        workers = len(client.scheduler_info().get("workers", {}))
        if not args.quiet or not workers:
            waiting = "; no worker connected yet, the tasks wait for one" if not workers else ""
            print(
                f"relscope: {len(jobs)} categories on a Dask cluster of {workers} workers "
                f"({client.scheduler.address}), ready in {time.perf_counter() - started:.1f} s"
                f"{waiting}",
                file=sys.stderr,
            )
        return run_jobs(client, jobs, retries=args.dask_retries, report=report)


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
