"""The analysis pipeline a ``relscope analyze`` run uses, as a recipe: the registered pipeline with
the run's parameters and task replacements. A recipe is a picklable ``functools.partial``, so Dask
workers rebuild the same pipeline from their own plugin registry."""

from __future__ import annotations

import functools
from typing import Any

import attrs

from relscope.core.errors import AnalyzeError


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


def pipeline_recipe(
    pipeline: str,
    n_eigval: int,
    n_neighbors: int,
    clusters: tuple[int, ...],
    jobs: int,
    tasks: tuple[str, ...] = (),
) -> Any:
    """A picklable recipe that builds the pipeline (see :func:`build_pipeline`) when called."""
    return functools.partial(
        build_pipeline, pipeline, n_eigval, n_neighbors, tuple(clusters), jobs, tuple(tasks)
    )
