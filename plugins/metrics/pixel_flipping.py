"""Pixel flipping / region perturbation curves, most and least relevant first.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.metrics.pixel_flipping_metric` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.metrics.pixel_flipping_metric"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``pixel_flipping``."""
    register(
        "pixel_flipping",
        lazy(f"{IMPLEMENTATION}:PixelFlipping"),
        description="Target output while positions are set to the baseline: MoRF and LeRF curves (N, S+1).",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
