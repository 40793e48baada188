"""AOPC: the area over the MoRF perturbation curve (Samek et al. 2017)."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.curve_areas import aopc
from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy


class AOPC(Metric):
    """Area over the MoRF curve, and that divided by the unperturbed output (higher is better)."""

    name = "aopc"
    curve_orders = ("morf",)

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """AOPC per sample, plain and normalised."""
        morf = batch.curve("morf")
        return as_numpy({"aopc": aopc(morf), "aopc_normalised": aopc(morf, normalised=True)})
