"""Sanity checks (Adebayo et al. 2018): cascading model randomisation and a randomised label.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.metrics.randomisation_metrics` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.metrics.randomisation_metrics"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``cascading_randomisation``, ``randomised_label`` and ``sanity`` (both)."""
    register(
        "cascading_randomisation",
        lazy(f"{IMPLEMENTATION}:CascadingRandomisation"),
        description="Rank correlation and SSIM to the original attribution as layers are randomised, top first.",
    )
    register(
        "randomised_label",
        lazy(f"{IMPLEMENTATION}:RandomisedLabel"),
        description="Rank correlation and SSIM between the attributions of the target and a random other class.",
    )
    register(
        "sanity",
        lazy(f"{IMPLEMENTATION}:SanityChecks"),
        description="Both sanity checks: cascading randomisation and the randomised label.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
