"""Turn a processor spec (an instance, a class, or a registered name) into a processor instance."""

from __future__ import annotations

import inspect
from typing import Any

from relscope.core.analysis.processor import Processor
from relscope.core.errors import ProcessorError


def get_processor(name: str, **params: Any) -> Processor:
    """A fresh processor registered as ``name`` (in the ``processors`` registry), with ``params``."""
    from relscope.core.registry import get_registry

    return as_processor(get_registry("processors").lookup(name), **params)


def as_processor(spec: Any, **params: Any) -> Processor:
    """``spec`` as a processor: an instance as is, a class or factory called, a name looked up."""
    if isinstance(spec, Processor) and not params:
        return spec
    if isinstance(spec, str):
        return get_processor(spec, **params)
    if isinstance(spec, Processor):
        return type(spec)(**{**spec.get_params(), **params})
    if callable(spec):
        made = spec(**params)
        if isinstance(made, Processor):
            return made
        what = spec.__name__ if inspect.isclass(spec) else repr(spec)
        raise ProcessorError(f"{what} made {type(made).__name__}, not a Processor")
    raise ProcessorError(
        f"expected a Processor, a processor class or a registered processor name, got {spec!r}"
    )
