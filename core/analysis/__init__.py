"""Analysis engine: cached processors, pipelines of named tasks, ``Parallel`` and ``Sequential``.

Names are imported from their modules on first use, so a plugin that needs only ``Processor`` and
``Param`` does not import the file formats (h5py) or the layouts behind the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# light (numpy, attrs) and imported now: the submodule ``processor`` must not shadow the function
from relscope.core.analysis.params import Param, at_least, greater_than, one_of
from relscope.core.analysis.processor import Context, Processor, StepEvent, processor

if TYPE_CHECKING:
    from relscope.core.analysis.hashing import content_digest
    from relscope.core.analysis.layout import category_analysis, split_outputs
    from relscope.core.analysis.lookup import as_processor, get_processor
    from relscope.core.analysis.parallel import Parallel
    from relscope.core.analysis.pipeline import Pipeline, Task
    from relscope.core.analysis.sequential import Sequential
    from relscope.core.analysis.store import Store

#: public name -> the module that defines it
_MODULES: dict[str, str] = {
    "content_digest": "hashing",
    "category_analysis": "layout",
    "split_outputs": "layout",
    "as_processor": "lookup",
    "get_processor": "lookup",
    "Parallel": "parallel",
    "Pipeline": "pipeline",
    "Task": "pipeline",
    "Sequential": "sequential",
    "Store": "store",
}

__all__ = [
    "Context",
    "Param",
    "Parallel",
    "Pipeline",
    "Processor",
    "Sequential",
    "StepEvent",
    "Store",
    "Task",
    "as_processor",
    "at_least",
    "category_analysis",
    "content_digest",
    "get_processor",
    "greater_than",
    "one_of",
    "processor",
    "split_outputs",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'relscope.core.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f"relscope.core.analysis.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
