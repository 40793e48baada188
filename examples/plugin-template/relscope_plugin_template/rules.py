"""The template's rule: LRP-ε on the positive part of the input."""

from __future__ import annotations

from relscope.core.attribution.linear_rule import LinearRule
from relscope.core.attribution.modifiers import keep, positive_part


class PositiveInputEpsilon(LinearRule):
    """ε on the positive part of the input: ``R_in = x⁺ ∘ Wᵀ (R / s(W x⁺ + b))``."""

    name = "positive_input_epsilon"

    def __init__(self, epsilon: float = 1e-6, zero_params: str | tuple[str, ...] | None = None):
        # one input term (x⁺) and one output group whose parameters are kept as they are
        super().__init__([positive_part], [[keep]], stabilizer=epsilon, zero_params=zero_params)
