"""Integrated gradients: the gradient averaged along the straight path from a baseline."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attributor import Attributor
from relscope.core.attribution.targets import AttrOutput
from relscope.core.errors import AttributionError
from relscope.core.parameters import check_params, int_at_least


class IntegratedGradients(Attributor):
    """``(x - x0) * mean_k grad(x0 + k/n (x - x0))`` for ``k = 1..n`` (Sundararajan et al., 2017).

    A right Riemann sum of ``n_steps`` steps; ``baseline`` ``x0`` is zeros by default, or a number
    or tensor that broadcasts to the inputs. With a composite, each gradient is the composite's
    relevance. With one step and a zero baseline this is gradient times input.
    """

    name = "integrated_gradients"

    def __init__(
        self,
        model: nn.Module,
        composite: Any = None,
        baseline: float | torch.Tensor | None = None,
        n_steps: int = 20,
    ) -> None:
        super().__init__(model, composite)
        check_params(self.name, AttributionError, n_steps=(n_steps, int_at_least(1)))
        if baseline is not None and (
            isinstance(baseline, bool) or not isinstance(baseline, (int, float, torch.Tensor))
        ):
            raise AttributionError(
                "integrated_gradients: baseline must be None, a number or a tensor, "
                f"not {type(baseline).__name__}"
            )
        self.baseline = baseline
        self.n_steps = n_steps

    def _baseline_for(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.baseline is None:
            return torch.zeros_like(inputs)
        baseline = torch.as_tensor(self.baseline, dtype=inputs.dtype, device=inputs.device)
        try:
            return torch.broadcast_to(baseline.detach(), inputs.shape)
        except RuntimeError:
            raise AttributionError(
                f"integrated_gradients: baseline of shape {tuple(baseline.shape)} does not "
                f"broadcast to the inputs of shape {tuple(inputs.shape)}"
            ) from None

    def compute(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum the gradients at ``n_steps`` points of the path; the last point is the input."""
        inputs = inputs.detach()
        baseline = self._baseline_for(inputs)
        difference = inputs - baseline
        total = torch.zeros_like(inputs)
        output = None
        for step in range(1, self.n_steps + 1):
            point = (
                inputs if step == self.n_steps else baseline + difference * (step / self.n_steps)
            )
            output, grad = self.gradient(point, attr_output)
            total += grad
        return output, difference * total / self.n_steps
