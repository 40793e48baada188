"""Analyse categories as tasks on a Dask distributed cluster: a local one (``--dask-workers N``)
or the cluster of a running scheduler (``--scheduler ADDRESS``).

Only :class:`~relscope.core.analysis.category_task.CategoryJob` values (paths, indices, a
pipeline recipe) go through the scheduler; each worker reads its category's rows from the
attribution files itself and sends back the small result (embeddings, clusterings), which the
client writes into the one analysis file.

No lost or duplicated category: every category is submitted once, under its own key, and the
client waits for every key and files each result under its category. A worker that dies is
replaced and its task rescheduled by Dask (up to ``distributed.scheduler.allowed-failures``
times); a task that raises an unexpected error is re-run up to ``retries`` times. Re-running is
safe because a job is idempotent (it writes only content-keyed cache entries).

Cache: all workers share the one ``--cache`` file. The store serialises writers with an
exclusive ``flock`` on ``<cache>.lock`` and lets readers share it, opening and closing the HDF5 file
inside the lock on every operation, so concurrent writers from many processes are safe; an entry
counts only once its ``complete`` flag and digest check out, so a worker killed mid-write leaves a
miss (at worst a file the store moves aside), never a wrong result. One shared file, unlike one
file per worker, keeps hitting when a retried or re-run category lands on another worker, and is
the same cache a serial run uses. It needs a file system where ``flock`` works across the
workers' hosts (any local disk; NFS with locking enabled).

Dask is an optional extra: it is imported only here, and only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from relscope.core.analysis.category_jobs import Outcomes, category_jobs, outcome_reporter
from relscope.core.analysis.category_task import CategoryJob, CategoryOutcome, run_category_job
from relscope.core.data.analysis import CategoryAnalysis
from relscope.core.errors import DistributedError

#: how to get Dask, named in the error when it is missing
EXTRA = "pip install 'relscope[distributed]'"
#: seconds to wait for a scheduler to answer
CONNECT_TIMEOUT = 30


def import_distributed(option: str) -> Any:
    """The ``distributed`` package, or a one-line DistributedError naming the extra."""
    try:
        import distributed
    except ImportError:
        raise DistributedError(f"{option} needs Dask's distributed scheduler: {EXTRA}") from None
    return distributed


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask client: of a new local cluster of ``workers`` processes (one thread each, bound to
    127.0.0.1, closed afterwards), or of the running scheduler at ``scheduler``."""
    if (workers is None) == (scheduler is None):
        raise DistributedError("give --dask-workers N or --scheduler ADDRESS, not both")
    option = "--scheduler" if scheduler is not None else "--dask-workers"
    distributed = import_distributed(option)
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DistributedError(f"--scheduler {scheduler}: cannot connect ({reason})") from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise DistributedError(f"--dask-workers: expected at least 1, got {workers}")
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def run_jobs(
    client: Any,
    jobs: Sequence[CategoryJob],
    *,
    retries: int = 2,
    report: Callable[[CategoryOutcome, int], None] | None = None,
) -> dict[str, CategoryAnalysis]:
    """Run ``jobs`` on ``client``'s cluster; results by category, in the order of ``jobs``.

    ``report(outcome, finished)`` is called on the client as each category arrives. The first
    failing category cancels the rest and raises (ProcessorError for relscope's own errors).
    """
    distributed = import_distributed("--dask-workers/--scheduler")
    outcomes = Outcomes(jobs, report)
    run = uuid.uuid4().hex[:12]
    futures = {
        client.submit(
            run_category_job,
            job,
            key=f"relscope-analyze-{run}-{number}-{job.category}",
            retries=retries,
            pure=False,
        ): job
        for number, job in enumerate(jobs)
    }
    try:
        for future in distributed.as_completed(futures):
            job = futures.pop(future)  # once gathered, the worker may drop the result
            try:
                outcome = future.result()
            except Exception as exc:  # the task's own exception after its retries, KilledWorker
                raise Outcomes.crashed(job, exc, DistributedError) from None
            finally:
                future.release()
            outcomes.add(outcome)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return outcomes.results()


def analyse_on_dask(args: Any, recipe: Any, planned: list[tuple[Any, Any, str]]) -> dict[str, Any]:
    """Analyse the planned ``(label entry, indices, prefix)`` categories as Dask tasks (paths and
    indices only) with the options of ``relscope analyze`` and gather their results."""
    import time

    jobs = category_jobs(args, recipe, planned, args.threads)
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
        report = outcome_reporter(args, planned)
        return run_jobs(client, jobs, retries=args.dask_retries, report=report)
