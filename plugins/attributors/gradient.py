"""The plain gradient attributor (LRP when combined with a composite).

It is registered by import path: :class:`relscope.core.attribution.attributor.Gradient` (and torch)
is imported when the attributor is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy


@hookimpl
def register_attributors(register: Any) -> None:
    """Register ``gradient``."""
    register(
        "gradient",
        lazy("relscope.core.attribution.attributor:Gradient"),
        description="The input gradient of the output relevance; with an LRP composite, the LRP relevance.",
    )
