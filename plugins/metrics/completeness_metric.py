"""Completeness / conservation error of rule-based attributions (LRP), per sample."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.completeness import completeness_error
from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy


class Completeness(Metric):
    """|sum of the attribution - target output|, absolute and relative to |target output|."""

    name = "completeness"

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """Per-sample conservation errors."""
        errors = completeness_error(batch.attributions, batch.target_outputs())
        return as_numpy({f"completeness_{key}": value for key, value in errors.items()})
