"""Sanity checks (Adebayo et al. 2018): cascading model randomisation and a randomised label."""

from __future__ import annotations

from typing import Any

from relscope.core.evaluation.metric import EvaluationBatch, Metric, as_numpy
from relscope.core.evaluation.randomisation import cascading_randomisation, randomised_label


def _check(batch: EvaluationBatch, metric: str, check: Any, *extra: Any) -> dict[str, Any]:
    """Run one sanity check (``check(model, inputs, classes, explain, *extra, seed=, reference=)``)
    on ``batch``, against the batch's own attributions, with the method re-run by ``explain``."""
    return as_numpy(
        check(
            batch.model,
            batch.inputs,
            batch.classes,
            batch.require_explain(metric),
            *extra,
            seed=batch.seed,
            reference=batch.attributions,
        )
    )


class CascadingRandomisation(Metric):
    """Rank correlation and SSIM to the original attribution as layers are randomised, top first."""

    name = "cascading_randomisation"
    needs_explain = True

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """(N, L) similarities, one column per randomised layer, and the layer names."""
        return _check(batch, self.name, cascading_randomisation)


class RandomisedLabel(Metric):
    """Rank correlation and SSIM between the attributions of the target and a random other class."""

    name = "randomised_label"
    needs_explain = True

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """(N,) similarities."""
        return _check(batch, self.name, randomised_label, batch.output_count())


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
