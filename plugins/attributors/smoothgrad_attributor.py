"""SmoothGrad: the gradient (or, with a composite, the relevance) averaged over noisy inputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attributor import Attributor
from relscope.core.attribution.targets import AttrOutput
from relscope.core.errors import AttributionError
from relscope.core.parameters import check_params, finite_at_least, int_at_least


class SmoothGrad(Attributor):
    """Average of ``n_iter`` gradients at ``x + noise`` (Smilkov et al., 2017).

    The noise is Gaussian with a standard deviation of ``noise_level`` times each sample's value
    range (max - min over the sample). With a composite, each gradient is the composite's relevance
    (SmoothGrad over LRP). ``seed`` makes the noise reproducible. Returns the output at the clean
    input and the averaged relevance.
    """

    name = "smoothgrad"

    def __init__(
        self,
        model: nn.Module,
        composite: Any = None,
        noise_level: float = 0.1,
        n_iter: int = 20,
        seed: int | None = None,
    ) -> None:
        super().__init__(model, composite)
        check_params(
            self.name,
            AttributionError,
            noise_level=(noise_level, finite_at_least(0)),
            n_iter=(n_iter, int_at_least(1)),
        )
        self.noise_level = float(noise_level)
        self.n_iter = n_iter
        self.seed = seed

    def compute(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Average the gradients of ``n_iter`` noisy copies of ``inputs``."""
        if inputs.dim() < 2:
            raise AttributionError(
                f"smoothgrad: inputs must be batch first with features, got shape {tuple(inputs.shape)}"
            )
        inputs = inputs.detach()
        dims = tuple(range(1, inputs.dim()))
        span = inputs.amax(dim=dims, keepdim=True) - inputs.amin(dim=dims, keepdim=True)
        std = self.noise_level * span
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
        total = torch.zeros_like(inputs)
        for _ in range(self.n_iter):
            noise = torch.randn(
                inputs.shape, generator=generator, dtype=inputs.dtype, device=inputs.device
            )
            _, grad = self.gradient(inputs + noise * std, attr_output)
            total += grad
        with torch.no_grad():
            output = self.model(inputs)
        return output, total / self.n_iter
