"""Sanity checks (Adebayo et al. 2018): cascading model randomisation and a randomised label."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy
from relscope.core.evaluation.randomisation import cascading_randomisation, randomised_label


class CascadingRandomisation(Metric):
    """Rank correlation and SSIM to the original attribution as layers are randomised, top first."""

    name = "cascading_randomisation"
    needs_explain = True

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """(N, L) similarities, one column per randomised layer, and the layer names."""
        return as_numpy(
            cascading_randomisation(
                batch.model,
                batch.inputs,
                batch.classes,
                batch.require_explain(self.name),
                seed=batch.seed,
                reference=batch.attributions,
            )
        )


class RandomisedLabel(Metric):
    """Rank correlation and SSIM between the attributions of the target and a random other class."""

    name = "randomised_label"
    needs_explain = True

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """(N,) similarities."""
        return as_numpy(
            randomised_label(
                batch.model,
                batch.inputs,
                batch.classes,
                batch.require_explain(self.name),
                batch.output_count(),
                seed=batch.seed,
                reference=batch.attributions,
            )
        )


class SanityChecks(Metric):
    """Both sanity checks: cascading randomisation and the randomised label."""

    name = "sanity"
    needs_explain = True

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """Every value of both checks, prefixed ``cascading_`` and ``label_``."""
        cascade = CascadingRandomisation().compute(batch)
        label = RandomisedLabel().compute(batch)
        return {f"cascading_{k}": v for k, v in cascade.items()} | {
            f"label_{k}": v for k, v in label.items()
        }
