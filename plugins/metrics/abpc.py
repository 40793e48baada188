"""ABPC / SRG: the area between the LeRF and MoRF curves (Blücher et al. 2024).

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.metrics.abpc_metric` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.metrics.abpc_metric"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``abpc``."""
    register(
        "abpc",
        lazy(f"{IMPLEMENTATION}:ABPC"),
        description="Area between LeRF and MoRF curves (symmetric relevance gain), plain and normalised.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
