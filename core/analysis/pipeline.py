"""Pipelines: processors made of named tasks, each with a default processor replaceable by keyword.

    @processor
    class Spectral(Pipeline):
        n_eigval: int = Param(int, 8)
        affinity: Processor = Task(KNNAffinity)
        embedding: Processor = Task(lambda p: EigenEmbedding(p.n_eigval), output=True)

    Spectral(n_eigval=4, affinity="my_affinity")(data)   # -> {"embedding": ...}

A task reads the previous task's output, or ``input="<task>"`` (``"input"``: the pipeline's input),
optionally one item of it (``select=1``), or a tuple of several earlier outputs
(``input=("reduce", "spectral")``). The pipeline returns a dict of the outputs of tasks
declared ``output=True`` or whose processor has ``is_output=True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs

from relscope.core.analysis.hashing import text_digest
from relscope.core.analysis.lookup import as_processor
from relscope.core.analysis.params import HELP, IDENTIFYING
from relscope.core.analysis.processor import Context, Processor, processor
from relscope.core.errors import ProcessorError

TASK = "task"


@attrs.frozen
class TaskSpec:
    """How a task is wired: where its input comes from and whether its output is returned."""

    input: str | tuple[str, ...] | None = None
    select: int | str | None = None
    output: bool = False


def _names(source: str | tuple[str, ...]) -> tuple[str, ...]:
    return source if isinstance(source, tuple) else (source,)


def _convert_task(value: Any) -> Processor:
    return as_processor(value)


def Task(  # noqa: N802 - reads like a field declaration
    default: type | str | Callable[[Any], Any],
    *,
    input: str | tuple[str, ...] | None = None,
    select: int | str | None = None,
    output: bool = False,
    help: str = "",
) -> Any:
    """Declare a pipeline task whose default processor is a class, a registered name, or a
    function of the pipeline (to read its params), e.g. ``lambda p: KMeans(p.n_clusters)``."""

    def make(pipeline: Any) -> Processor:
        if isinstance(default, str) or inspect.isclass(default):
            return as_processor(default)
        return as_processor(default(pipeline))

    return attrs.field(
        default=attrs.Factory(make, takes_self=True),
        converter=_convert_task,
        metadata={
            TASK: TaskSpec(input=input, select=select, output=output),
            IDENTIFYING: False,
            HELP: help,
        },
    )


@processor
class Pipeline(Processor):
    """A processor made of the named tasks its subclass declares with :func:`Task`."""

    @classmethod
    def task_names(cls) -> list[str]:
        """The tasks, in the order they run."""
        return [f.name for f in attrs.fields(cls) if TASK in f.metadata]

    @classmethod
    def _specs(cls) -> dict[str, TaskSpec]:
        return {f.name: f.metadata[TASK] for f in attrs.fields(cls) if TASK in f.metadata}

    def tasks(self) -> dict[str, Processor]:
        """Task name -> the processor that runs it."""
        return {name: getattr(self, name) for name in self.task_names()}

    def function(self, data: Any) -> Any:
        """Uncached run (``evaluate`` is what callers use)."""
        return self.evaluate(data, Context())[0]

    def evaluate(
        self, data: Any, context: Context, digest: str | None = None
    ) -> tuple[Any, str | None]:
        """Run the tasks in order; each one is cached on its own through ``context``."""
        specs = self._specs()
        if not specs:
            raise ProcessorError(f"{type(self).__name__}: a pipeline needs at least one task")
        sources = self._sources(specs)
        last_use = {}
        for name, source in sources.items():
            for item in _names(source):
                last_use[item] = name
        results: dict[str, tuple[Any, str | None]] = {"input": (data, digest)}
        outputs: dict[str, Any] = {}
        for name, spec in specs.items():
            task = getattr(self, name)
            value, value_digest = _gather(results, sources[name])
            if spec.select is not None:
                value, value_digest = _select(value, spec.select, name, sources[name]), None
            for item in _names(sources[name]):
                if last_use.get(item) == name and item not in outputs:
                    results.pop(item)  # free intermediates nobody reads again
            results[name] = task.evaluate(value, context.child(name, self.io), value_digest)
            if spec.output or task.is_output:
                outputs[name] = results[name][0]
        if not outputs:
            outputs[name] = results[name][0]
        return outputs, None

    def _sources(self, specs: dict[str, TaskSpec]) -> dict[str, str]:
        sources, previous = {}, "input"
        for name, spec in specs.items():
            source = spec.input or previous
            if any(s != "input" and (s not in sources or s == name) for s in _names(source)):
                raise ProcessorError(
                    f"{type(self).__name__}: task {name!r} reads {source!r}, which is not an "
                    "earlier task"
                )
            sources[name] = source
            previous = name
        return sources


def _gather(
    results: dict[str, tuple[Any, str | None]], source: str | tuple[str, ...]
) -> tuple[Any, str | None]:
    """The output (and digest) a task reads: one earlier result, or a tuple of several."""
    if not isinstance(source, tuple):
        return results[source]
    values = tuple(results[item] for item in source)
    digests = [digest for _, digest in values]
    combined = None if None in digests else text_digest("tuple", *digests)  # type: ignore[arg-type]
    return tuple(value for value, _ in values), combined


def _select(value: Any, key: int | str, task: str, source: Any) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError, TypeError):
        raise ProcessorError(
            f"task {task!r}: the output of {source!r} has no item {key!r}"
        ) from None
