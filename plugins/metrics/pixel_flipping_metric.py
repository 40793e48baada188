"""Pixel flipping / region perturbation curves, most and least relevant first."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy


class PixelFlipping(Metric):
    """Target output while positions are set to the baseline: MoRF and LeRF curves (N, S+1)."""

    name = "pixel_flipping"
    curve_orders = ("morf", "lerf")

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """Both curves of ``batch``."""
        return as_numpy({"morf": batch.curve("morf"), "lerf": batch.curve("lerf")})
