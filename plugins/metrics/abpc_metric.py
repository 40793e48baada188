"""ABPC / SRG: the area between the LeRF and MoRF curves (Blücher et al. 2024)."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.curve_areas import abpc
from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy


class ABPC(Metric):
    """Area between LeRF and MoRF curves (symmetric relevance gain), plain and normalised."""

    name = "abpc"
    curve_orders = ("morf", "lerf")

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """ABPC per sample, plain and normalised."""
        morf, lerf = batch.curve("morf"), batch.curve("lerf")
        return as_numpy(
            {"abpc": abpc(morf, lerf), "abpc_normalised": abpc(morf, lerf, normalised=True)}
        )
