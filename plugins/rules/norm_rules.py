"""The ``norm`` rule for parameter-free linear layers: average pooling and explicit sums."""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl
from relscope.core.attribution.norm_rule import NormRule


class Norm(NormRule):
    """``R_in = x ∘ Jᵀ (R / s(f(x)))``, no parameter change: average pooling and explicit sums."""

    name = "norm"


@hookimpl
def register_rules(register: Any) -> None:
    """Register the ``norm`` rule."""
    register(Norm.name, Norm)
