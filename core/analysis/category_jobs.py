"""The category jobs of a ``relscope analyze`` run handed to other processes, the line reported
as each one's result arrives, and how results and failures are taken in: the same for a local
process pool and a Dask cluster."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from relscope.core.analysis.category_task import CategoryJob, CategoryOutcome
from relscope.core.data.analysis import CategoryAnalysis
from relscope.core.errors import ProcessorError, RelscopeError


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


class Outcomes:
    """The results of jobs as they arrive from other processes: each filed under its category,
    reported, and the first failure raised as one line naming the category."""

    def __init__(
        self, jobs: Sequence[CategoryJob], report: Callable[[CategoryOutcome, int], None] | None
    ) -> None:
        if len({job.category for job in jobs}) != len(jobs):
            raise ProcessorError("a category was given twice")
        self.jobs = jobs
        self.report = report
        self.arrived: dict[str, CategoryOutcome] = {}

    def add(self, outcome: CategoryOutcome) -> None:
        """File ``outcome``; relscope's own error in the job stops the run (ProcessorError)."""
        if outcome.error is not None:
            raise ProcessorError(f"category {outcome.category}: {outcome.error}")
        self.arrived[outcome.category] = outcome
        if self.report is not None:
            self.report(outcome, len(self.arrived))

    @staticmethod
    def crashed(job: CategoryJob, exc: BaseException, error: type[RelscopeError]) -> RelscopeError:
        """The one-line ``error`` for a job that raised ``exc`` instead of returning."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return error(f"category {job.category}: {type(exc).__name__}: {reason}")

    def results(self) -> dict[str, CategoryAnalysis]:
        """Every job's analysis by category, in the order of the jobs."""
        return {job.category: self.arrived[job.category].analysis for job in self.jobs}
