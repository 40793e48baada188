"""Analyse categories side by side in a pool of local worker processes (``--workers N``).

The same :class:`~relscope.core.analysis.category_task.CategoryJob` values as on a Dask cluster
go to ``N`` processes started fresh (``spawn``: nothing of this process's open files, threads or
locks is inherited), each reading its category's rows from the attribution files itself and
sending back the small result, which this process writes into the one analysis file. Categories
are handed out as workers free up, so one slow category does not hold the others back. The
``--cache`` file is shared as on Dask (the store serialises writers with a file lock).

A category that fails with relscope's own error (bad data, bad parameters) stops the run with
that error, naming the category; a worker that dies (killed, out of memory) stops it with a
one-line error, and the categories not yet started are not run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from relscope.core.analysis.category_jobs import Outcomes, category_jobs, outcome_reporter
from relscope.core.analysis.category_task import CategoryJob, CategoryOutcome, run_category_job
from relscope.core.data.analysis import CategoryAnalysis
from relscope.core.errors import AnalyzeError


def worker_threads(workers: int, threads: int | None) -> int:
    """BLAS/OpenMP threads of each worker: ``--threads``, else the cores shared out evenly."""
    if threads is not None:
        return threads
    return max((os.cpu_count() or 1) // workers, 1)


def run_in_processes(
    jobs: Sequence[CategoryJob],
    workers: int,
    report: Callable[[CategoryOutcome, int], None] | None = None,
) -> dict[str, CategoryAnalysis]:
    """Run ``jobs`` on ``workers`` fresh processes; results by category, in the order of ``jobs``.

    ``report(outcome, finished)`` is called here as each category arrives. The first failure
    cancels the jobs not yet started and raises (ProcessorError for relscope's own errors).
    """
    outcomes = Outcomes(jobs, report)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context)
    try:
        pending: dict[Future, CategoryJob] = {
            pool.submit(run_category_job, job): job for job in jobs
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    raise AnalyzeError(
                        f"category {job.category}: a worker process died (killed or out of "
                        "memory); run again with fewer --workers"
                    ) from None
                except Exception as exc:  # an unexpected error inside the job, as on Dask
                    raise Outcomes.crashed(job, exc, AnalyzeError) from None
                outcomes.add(outcome)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes.results()


def analyse_in_processes(
    args: Any, recipe: Any, planned: list[tuple[Any, Any, str]]
) -> dict[str, Any]:
    """Analyse the planned ``(label entry, indices, prefix)`` categories on ``args.workers``
    local processes with the options of ``relscope analyze``; their results by category."""
    threads = worker_threads(args.workers, args.threads)
    jobs = category_jobs(args, recipe, planned, threads)
    return run_in_processes(jobs, args.workers, outcome_reporter(args, planned))
