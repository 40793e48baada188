"""Completeness / conservation error of rule-based attributions (LRP), per sample.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.metrics.completeness_metric` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.metrics.completeness_metric"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``completeness``."""
    register(
        "completeness",
        lazy(f"{IMPLEMENTATION}:Completeness"),
        description="|sum of the attribution - target output|, absolute and relative to |target output|.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
