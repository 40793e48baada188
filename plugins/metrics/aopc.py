"""AOPC: the area over the MoRF perturbation curve (Samek et al. 2017).

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.metrics.aopc_metric` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.metrics.aopc_metric"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``aopc``."""
    register(
        "aopc",
        lazy(f"{IMPLEMENTATION}:AOPC"),
        description="Area over the MoRF curve, and that divided by the unperturbed output (higher is better).",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
