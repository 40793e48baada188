"""The ``norm`` rule for parameter-free linear layers: average pooling and explicit sums."""

from __future__ import annotations

from relscope.core.attribution.norm_rule import NormRule


class Norm(NormRule):
    """``R_in = x ∘ Jᵀ (R / s(f(x)))``, no parameter change: average pooling and explicit sums."""

    name = "norm"
