"""The category jobs of a ``relscope analyze`` run handed to other processes, and the line
reported as each one's result arrives: the same for a local process pool and a Dask cluster."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from relscope.core.analysis.category_task import CategoryJob, CategoryOutcome


def category_jobs(
    args: Any, recipe: Callable[[], Any], planned: Sequence[tuple[Any, Any, str]], threads: Any
) -> list[CategoryJob]:
    """One job per planned ``(label entry, indices, prefix)``: absolute paths, so a worker in
    another directory (or on another host sharing the file system) finds the same files."""
    paths = tuple(str(Path(p).absolute()) for p in args.attribution)
    cache = str(args.cache.absolute()) if args.cache is not None else None
    return [
        CategoryJob(entry.word_net_id, index, paths, recipe, cache, threads, name=args.pipeline)
        for entry, index, _ in planned
    ]


def outcome_reporter(
    args: Any, planned: Sequence[tuple[Any, Any, str]]
) -> Callable[[CategoryOutcome, int], None]:
    """``report(outcome, finished)``: one stderr line per finished category (unless quiet), with
    its time and the process it ran in."""
    names = {
        entry.word_net_id: (entry.name, prefix, len(index)) for entry, index, prefix in planned
    }

    def report(outcome: CategoryOutcome, finished: int) -> None:
        if args.quiet:
            return
        name, prefix, count = names[outcome.category]
        print(
            f"relscope: {prefix} ({name}): {count} points in {outcome.seconds:.2f} s on "
            f"{outcome.host} pid {outcome.pid} ({finished}/{len(planned)} done)",
            file=sys.stderr,
        )

    return report
