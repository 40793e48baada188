"""Analysis engine: cached processors, pipelines of named tasks, ``Parallel`` and ``Sequential``."""

from relscope.core.analysis.hashing import content_digest
from relscope.core.analysis.layout import category_analysis, split_outputs
from relscope.core.analysis.lookup import as_processor, get_processor
from relscope.core.analysis.parallel import Parallel
from relscope.core.analysis.params import Param, at_least, greater_than, one_of
from relscope.core.analysis.pipeline import Pipeline, Task
from relscope.core.analysis.processor import Context, Processor, StepEvent, processor
from relscope.core.analysis.sequential import Sequential
from relscope.core.analysis.store import Store

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
