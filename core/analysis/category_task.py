"""One category's analysis: read its rows, run the pipeline, sort the outputs into the layout.

``analyse_category`` is what ``relscope analyze`` does for each category. ``CategoryJob`` packs
the same work as a self-contained task for another process (a Dask worker): only small values
travel (attribution file paths, the category's dataset indices, the cache path, a picklable recipe
that builds the pipeline), and the worker reads its rows from the attribution files itself. A job
writes nothing but cache entries, which are keyed by content and replaced whole, so running it
twice (after a lost worker) gives the same result and leaves the same cache.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from relscope.core.analysis.category_data import load_attributions
from relscope.core.analysis.layout import category_analysis
from relscope.core.analysis.processor import StepEvent
from relscope.core.analysis.store import Store
from relscope.core.data.analysis import CategoryAnalysis
from relscope.core.data.attributions import AttributionSet
from relscope.core.errors import RelscopeError


def analyse_category(
    attributions: AttributionSet,
    index: np.ndarray,
    pipeline: Any,
    *,
    store: Store | None = None,
    progress: Callable[[StepEvent], None] | None = None,
    name: str = "pipeline",
) -> CategoryAnalysis:
    """Run ``pipeline`` on the attributions of dataset ``index``; a single processor's output is
    stored under ``name``."""
    load_rows = getattr(attributions, "load_rows", None)  # concept features (concept_features.py)
    data = load_rows(index) if load_rows is not None else load_attributions(attributions, index)
    outputs = pipeline(data, io=store, progress=progress)
    if not isinstance(outputs, Mapping):  # a single processor, not a pipeline
        outputs = {name: outputs}
    return category_analysis(index, outputs)


@attrs.frozen
class CategoryJob:
    """Everything a worker needs for one category, as small picklable values.

    ``pipeline`` is a picklable callable that builds the processor on the worker (e.g. a
    ``functools.partial`` of a registry lookup), so plugins resolve there, not on the client.
    """

    category: str
    index: np.ndarray
    attribution_paths: tuple[str, ...]
    pipeline: Callable[[], Any]
    cache: str | None = None
    threads: int | None = None
    name: str = "pipeline"


@attrs.frozen
class CategoryOutcome:
    """A job's result (``analysis``) or its error message, with where and how long it ran."""

    category: str
    analysis: CategoryAnalysis | None
    error: str | None
    seconds: float
    host: str
    pid: int


def run_category_job(job: CategoryJob) -> CategoryOutcome:
    """Run ``job`` in this process. relscope's own errors (bad data, bad parameters) are returned,
    not raised: they would fail again on a retry; anything else is raised for the scheduler to
    retry."""
    started = time.perf_counter()
    analysis, error = None, None
    limits: Any = contextlib.nullcontext()
    if job.threads is not None:
        from relscope.core.analysis.thread_limits import limit_threads

        limits = limit_threads(job.threads)
    try:
        with limits, warnings.catch_warnings():
            # joblib notes that it keeps n_jobs=1 inside a daemonic Dask worker: expected here
            warnings.filterwarnings("ignore", message="Inside a Dask worker with daemon=True")
            analysis = analyse_category(
                _attribution_set(job.attribution_paths),
                job.index,
                job.pipeline(),
                store=Store(job.cache) if job.cache is not None else None,
                name=job.name,
            )
    except RelscopeError as exc:
        error = str(exc)
    return CategoryOutcome(
        job.category,
        analysis,
        error,
        time.perf_counter() - started,
        socket.gethostname(),
        os.getpid(),
    )


_OPENED: dict[tuple[tuple[str, int, int], ...], AttributionSet] = {}


def _attribution_set(paths: tuple[str, ...]) -> AttributionSet:
    """The attribution files, opened once per worker process (reopened when a file changes)."""
    key = tuple((p, *_stamp(Path(p))) for p in paths)
    if key not in _OPENED:
        for stale in [k for k in _OPENED if tuple(p for p, *_ in k) == paths]:
            _OPENED.pop(stale).close()
        _OPENED[key] = AttributionSet(list(paths))
    return _OPENED[key]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:  # AttributionSet names the missing file
        return -1, -1
    return stat.st_mtime_ns, stat.st_size
