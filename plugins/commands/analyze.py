"""``relscope analyze``: run an analysis pipeline (SpRAy by default) per category, write the file.

Each category (label of the label map) is analysed on its own (one after the other, side by
side in local processes with ``--workers``, or as tasks on a Dask cluster with
``--dask-workers``/``--scheduler``); the outputs go to the analysis
HDF5 layout (``embedding/spectral`` with eigenvalues, ``embedding/tsne``, ``cluster/kmeans-NN``,
...) and, with ``--project``, into the project's ``analyses`` list.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis.pipeline_recipe import parse_clusters
from relscope.core.cli.argument_types import positive_int
from relscope.core.errors import AnalyzeError, ProcessorError


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
    parser.add_argument(
        "--jobs", type=positive_int, default=1, help="clusterings run side by side (1)"
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="BLAS/OpenMP threads per step (default: all cores, shared out among --workers; "
        "1 on a busy shared machine)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="analyse categories side by side in N local processes (default: 1, in this one)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--verbose", action="store_true", help="also time every pipeline step")
    cluster = parser.add_argument_group(
        "cluster (Dask; pip install 'relscope[distributed]', see README: Running on a cluster)"
    ).add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask-workers",
        type=positive_int,
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


def run(args: argparse.Namespace) -> int:
    """Analyse every selected category and write the analysis file (and project entry)."""
    if args.dask_retries < 0:
        raise AnalyzeError(f"--dask-retries: expected at least 0, got {args.dask_retries}")
    on_dask = args.dask_workers is not None or args.scheduler is not None
    if on_dask and args.workers > 1:
        raise AnalyzeError("--workers: local worker processes or a Dask cluster, not both")
    if on_dask:
        from relscope.core.analysis.dask_runner import import_distributed

        import_distributed("--scheduler" if args.scheduler is not None else "--dask-workers")
        return _run(args)  # --threads applies inside each worker's task
    if args.threads is None or args.workers > 1:
        return _run(args)
    from relscope.core.analysis.thread_limits import limit_threads

    with limit_threads(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from relscope.core.analysis import Store
    from relscope.core.analysis.category_data import category_indices, select_categories
    from relscope.core.analysis.category_task import analyse_category
    from relscope.core.analysis.pipeline_recipe import pipeline_recipe
    from relscope.core.analysis.ranking import rank_categories, ranking_lines
    from relscope.core.analysis.run_progress import AnalyzeProgress
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
    if args.project is not None and "-" in (args.method or args.pipeline):
        raise AnalyzeError(
            f"--method {args.method or args.pipeline!r}: analysis method names may not contain '-'"
        )
    recipe = pipeline_recipe(
        args.pipeline, args.n_eigval, args.n_neighbors, args.clusters, args.jobs, args.task
    )
    pipeline = recipe()  # built here too: a bad --task fails before any work
    if bool(args.features) == bool(args.attribution) or (
        args.features and (args.scheduler or args.dask_workers or args.workers > 1)
    ):
        raise AnalyzeError(
            "give attribution files or --features CONCEPTS.h5:LAYER (not with --workers or Dask)"
        )
    if args.features:
        from relscope.core.analysis.concept_features import ConceptFeatures

        attributions: Any = ConceptFeatures(args.features)
    else:
        attributions = AttributionSet(args.attribution, label_map=label_map)
    members = category_indices(attributions, label_map)
    categories = select_categories(label_map, args.categories)
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
        from relscope.core.analysis.dask_runner import analyse_on_dask

        results = analyse_on_dask(args, recipe, planned)
    elif planned and args.workers > 1:
        attributions.close()
        from relscope.core.analysis.process_pool import analyse_in_processes

        results = analyse_in_processes(args, recipe, planned)
    else:
        store = Store(args.cache) if args.cache is not None else None
        progress = AnalyzeProgress(len(planned), verbose=args.verbose, quiet=args.quiet)
        try:
            for entry, index, prefix in planned:
                progress.start_category(f"{prefix} ({entry.name})")
                began = time.perf_counter()
                try:
                    results[entry.word_net_id] = analyse_category(
                        attributions,
                        index,
                        pipeline,
                        store=store,
                        progress=progress.step,
                        name=args.pipeline,
                    )
                except ProcessorError as exc:
                    raise ProcessorError(f"category {entry.word_net_id}: {exc}") from None
                progress.done_category(results[entry.word_net_id], time.perf_counter() - began)
        finally:
            progress.close()
            attributions.close()
    if not results:
        raise AnalyzeError(
            f"no category has at least --min-points {args.min_points} points with attributions"
        )
    write_analysis(results, args.out)
    if args.project is not None:
        from relscope.core.data.project import add_analysis_to_project

        add_analysis_to_project(args.project, args.method or args.pipeline, args.out)
    if not args.quiet:
        print(
            f"relscope: wrote {len(results)} categories to {args.out} in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        names = {entry.word_net_id: entry.name for entry, _, _ in planned}
        print("relscope: categories ranked by separability (best clustering):", file=sys.stderr)
        print("\n".join(ranking_lines(rank_categories(results), names)), file=sys.stderr)
    return 0
