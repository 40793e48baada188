"""The metric plugin interface: a :class:`Metric` computes per-sample values for one
:class:`EvaluationBatch` (model, inputs, attributions, target classes, perturbation settings).

The batch memoises its perturbation curves, so pixel flipping, AOPC and ABPC requested together
perturb once. Values are arrays whose first axis is the batch's samples; a metric may also return
plain JSON values (e.g. layer names), which must be equal across batches."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from relscope.core.errors import EvaluationError
from relscope.core.evaluation.baselines import BASELINES
from relscope.core.evaluation.perturbation import (
    DEFAULT_FORWARD_BATCH,
    perturbation_curves,
    select_outputs,
)
from relscope.core.evaluation.randomisation import Explain


def _baseline(value: Any) -> float | str:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            if value not in BASELINES:
                raise EvaluationError(
                    f"unknown baseline {value!r}; expected a number or one of "
                    f"{', '.join(BASELINES)}"
                ) from None
            return value
    return value


@attrs.frozen
class PerturbationSettings:
    """How curves are made: ``step`` positions more per step, ``region``×``region`` patches, the
    ``baseline`` (a number, "mean", "blur", "uniform"), its seed and blur width, rows per forward;
    a data-set run resolves ``step=None`` to a step size giving a fixed number of steps."""

    step: int | None = 1
    region: int = 1
    baseline: float | str = attrs.field(default=0.0, converter=_baseline)
    seed: int = 0
    blur_sigma: float = 2.0
    forward_batch: int = DEFAULT_FORWARD_BATCH

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form recorded in the evaluation file."""
        return attrs.asdict(self)


class EvaluationBatch:
    """One batch to evaluate; ``explain`` (model, inputs, classes) -> attributions re-runs the
    method (needed by the randomisation checks); ``orders``: the curves the batch's metrics will
    ask for, made together on the first request (they share their unperturbed and last rows)."""

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        attributions: torch.Tensor,
        classes: torch.Tensor,
        settings: PerturbationSettings,
        explain: Explain | None = None,
        seed: int = 0,
        orders: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.attributions = attributions
        self.classes = classes
        self.settings = settings
        self.explain = explain
        self.seed = seed
        self.orders = orders
        self._curves: dict[str, torch.Tensor] = {}
        self._outputs: torch.Tensor | None = None

    def curve(self, order: str) -> torch.Tensor:
        """(N, S+1) perturbation curve in ``order`` ("morf" or "lerf"), computed once."""
        if order not in self._curves:
            s = self.settings
            wanted = [o for o in (order, *self.orders) if o not in self._curves]
            self._curves |= perturbation_curves(
                self.model,
                self.inputs,
                self.attributions,
                self.classes,
                step=s.step,
                baseline=s.baseline,
                orders=wanted,
                region=s.region,
                seed=s.seed,
                blur_sigma=s.blur_sigma,
                forward_batch=s.forward_batch,
            )
        return self._curves[order]

    def target_outputs(self) -> torch.Tensor:
        """(N,) the unperturbed target outputs."""
        if self._curves:
            return next(iter(self._curves.values()))[:, 0]
        if self._outputs is None:
            with torch.no_grad():
                self._outputs = select_outputs(self.model(self.inputs), self.classes).double()
        return self._outputs

    def output_count(self) -> int:
        """How many outputs (classes) the model has."""
        with torch.no_grad():
            return int(self.model(self.inputs[:1]).reshape(1, -1).shape[1])

    def require_explain(self, metric: str) -> Explain:
        """The method's explain function; an error when the method cannot be re-run."""
        if self.explain is None:
            raise EvaluationError(
                f"metric {metric!r} re-runs the attribution method, which is unknown for this "
                "attribution (a file without relscope's configuration)"
            )
        return self.explain


class Metric:
    """Base of metric plugins: ``compute(batch) -> {key: per-sample array or JSON value}``."""

    #: registry name (set by subclasses)
    name: str = ""
    #: True when the metric re-runs the attribution method (randomisation checks)
    needs_explain: bool = False
    #: the perturbation curves ("morf", "lerf") the metric reads from the batch
    curve_orders: tuple[str, ...] = ()

    def compute(self, batch: EvaluationBatch) -> dict[str, Any]:
        """Per-sample values of this metric for ``batch``."""
        raise NotImplementedError


def as_numpy(values: dict[str, Any]) -> dict[str, Any]:
    """Tensors in a metric result to float64 numpy arrays (other values unchanged)."""
    return {
        key: value.detach().double().cpu().numpy() if isinstance(value, torch.Tensor) else value
        for key, value in values.items()
    }


def is_per_sample(value: Any) -> bool:
    """Whether a metric result value holds one row per sample (an array)."""
    return isinstance(value, np.ndarray)
