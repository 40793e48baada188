"""The processor: an ``attrs`` class with typed params and ``function(self, data)``.

Calling a processor runs ``function`` unless its cache (``io=``, or the store its pipeline passes
down) already holds the output for the same input bytes, class and identifying params.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from relscope.core.analysis.hashing import content_digest, text_digest
from relscope.core.analysis.params import IDENTIFYING, is_identifying
from relscope.core.analysis.store import FORMAT_VERSION, Store
from relscope.core.errors import ProcessorError

C = TypeVar("C", bound=type)

#: base fields that configure how a processor runs, never what it computes
_RUN_FIELDS = ("io", "is_output")


@attrs.frozen
class StepEvent:
    """One progress report: ``status`` is "start", "done" or "cached" for the step at ``path``."""

    path: tuple[str, ...]
    processor: str
    status: str
    seconds: float = 0.0


@attrs.frozen
class Context:
    """What a run passes down the processor tree: the cache, the progress callback, the path."""

    store: Store | None = None
    progress: Callable[[StepEvent], None] | None = None
    path: tuple[str, ...] = ()

    def child(self, name: str, store: Store | None = None) -> Context:
        """The context of a child step called ``name`` (with ``store`` overriding the cache)."""
        return attrs.evolve(
            self, path=(*self.path, name), store=self.store if store is None else store
        )

    def report(self, processor: Processor, status: str, seconds: float = 0.0) -> None:
        """Send one :class:`StepEvent` to the progress callback, if any."""
        if self.progress is not None:
            self.progress(StepEvent(self.path, type(processor).__name__, status, seconds))


def processor(cls: C | None = None, **kwargs: Any) -> Any:
    """Class decorator: ``attrs.define`` with the processor's scikit-learn-like ``repr``."""
    kwargs.setdefault("repr", False)
    if cls is None:
        return functools.partial(processor, **kwargs)
    return attrs.define(cls, **kwargs)


def _token(value: Any) -> Any:
    """A JSON-ready, stable stand-in for a parameter value in a cache key."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_token(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _token(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, np.ndarray):
        return {"array": content_digest(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Processor):
        return {"processor": value.qualname(), "params": value.identifying_params()}
    if callable(value):
        return {
            "callable": f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
        }
    return repr(value)


@processor
class Processor:
    """Base of every analysis step: set params in the constructor, call it on data.

    Subclasses declare params (``Param(...)`` or ``attrs.field``) and implement ``function``.
    ``io`` is a :class:`Store` that caches the output; ``is_output`` marks a pipeline step whose
    result the pipeline returns.
    """

    #: bump in a subclass when its ``function`` changes what it computes: old entries then miss
    cache_version: ClassVar[int] = 1

    io: Store | None = attrs.field(default=None, kw_only=True, metadata={IDENTIFYING: False})
    is_output: bool = attrs.field(
        default=False,
        kw_only=True,
        validator=attrs.validators.instance_of(bool),
        metadata={IDENTIFYING: False},
    )

    def function(self, data: Any) -> Any:
        """Compute this step's output from ``data`` (override in subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement function()")

    # -- scikit-learn-like parameter access ------------------------------------------------
    @classmethod
    def qualname(cls) -> str:
        """``module.Class``: the class part of the cache key."""
        return f"{cls.__module__}.{cls.__qualname__}"

    def with_params(self, **params: Any) -> Processor:
        """A new processor of this type with these parameters, the others kept."""
        return type(self)(**{**self.get_params(), **params})

    def get_params(self) -> dict[str, Any]:
        """Every constructor parameter except ``io`` and ``is_output``."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(type(self))
            if f.name not in _RUN_FIELDS
        }

    def set_params(self, **params: Any) -> Processor:
        """Set parameters in place (validated like the constructor); returns ``self``."""
        names = {f.name for f in attrs.fields(type(self))}
        for name, value in params.items():
            if name not in names:
                raise ProcessorError(
                    f"{type(self).__name__}: unknown parameter {name!r}; known: {sorted(names)}"
                )
            setattr(self, name, value)
        return self

    def identifying_params(self) -> dict[str, Any]:
        """The parameters that are part of the cache key, as JSON-ready tokens."""
        return {
            f.name: _token(getattr(self, f.name))
            for f in attrs.fields(type(self))
            if f.name not in _RUN_FIELDS and is_identifying(f)
        }

    def cache_key(self, input_digest: str) -> str:
        """The cache key of this processor applied to an input with digest ``input_digest``."""
        params = json.dumps(self.identifying_params(), sort_keys=True)
        version = f"v{FORMAT_VERSION}.{self.cache_version}"
        return text_digest(version, self.qualname(), params, input_digest)

    def __repr__(self) -> str:
        fields = sorted(attrs.fields(type(self)), key=lambda f: f.name in _RUN_FIELDS)
        parts = []
        for field in fields:
            value = getattr(self, field.name)
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory(self) if default.takes_self else default.factory()
            if default is not attrs.NOTHING and _same(value, default):
                continue
            parts.append(f"{field.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- running ---------------------------------------------------------------------------
    def __call__(
        self,
        data: Any,
        *,
        io: Store | None = None,
        progress: Callable[[StepEvent], None] | None = None,
    ) -> Any:
        """Run on ``data`` (reading from and writing to the cache when one is given)."""
        return self.evaluate(data, Context(store=io, progress=progress))[0]

    def evaluate(
        self, data: Any, context: Context, digest: str | None = None
    ) -> tuple[Any, str | None]:
        """Run within ``context``; returns the output and its digest (None when uncached).

        ``digest`` is the input's content digest when the caller already knows it.
        """
        store = self.io if self.io is not None else context.store
        if store is None:
            return self._compute(data, context), None
        if digest is None:
            digest = content_digest(data)
        key = self.cache_key(digest)
        started = time.perf_counter()
        hit = store.load(key, data)
        if hit is not None:
            context.report(self, "cached", time.perf_counter() - started)
            return hit
        result = self._compute(data, context)
        info = {"processor": self.qualname(), "params": json.dumps(self.identifying_params())}
        return result, store.save(key, result, data=data, data_digest=digest, info=info)

    def _compute(self, data: Any, context: Context) -> Any:
        context.report(self, "start")
        started = time.perf_counter()
        result = self.function(data)
        context.report(self, "done", time.perf_counter() - started)
        return result


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default) and type(value) is type(default)
    except Exception:  # arrays and other values without a plain truth value
        return False
