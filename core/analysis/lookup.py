"""Turn a processor spec (an instance, a class, or a registered name) into a processor instance."""

from __future__ import annotations

import inspect
from typing import Any

from relscope.core.analysis.processor import Processor
from relscope.core.errors import ProcessorError


def get_processor(name: str, **params: Any) -> Processor:
    """A fresh processor registered as ``name`` (in the ``processors`` registry), with ``params``."""
    return as_processor(name, **params)


def as_processor(spec: Any, **params: Any) -> Processor:
    """``spec`` as a processor: an instance as is (re-made with ``params``), a class or factory
    called, a name looked up; all through the registry's ``create``."""
    from relscope.core.registry import get_registry

    if not isinstance(spec, (str, Processor)) and not callable(spec):
        raise ProcessorError(
            f"expected a Processor, a processor class or a registered processor name, got {spec!r}"
        )
    made = get_registry("processors").create(spec, **params)
    if not isinstance(made, Processor):
        what = spec.__name__ if inspect.isclass(spec) else repr(spec)
        raise ProcessorError(f"{what} made {type(made).__name__}, not a Processor")
    return made
