"""The plain gradient attributor (LRP when combined with a composite)."""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl
from relscope.core.attribution.attributor import Gradient


@hookimpl
def register_attributors(register: Any) -> None:
    """Register ``gradient``."""
    register(Gradient.name, Gradient)
