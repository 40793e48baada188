"""Rule base for element-wise layers (activations, merged batch norm): same shape in and out."""

from __future__ import annotations

import torch

from relscope.core.attribution.rule import Rule, RuleContext
from relscope.core.errors import RuleConfigurationError


class ElementwiseRule(Rule):
    """A rule for element-wise layers: ``R_in = relevance(x, R)``, same shape as the input.

    Subclasses implement :meth:`relevance`; :meth:`keep` says what of the input to keep for it
    (default nothing; e.g. a mask ``x > 0`` costs a byte per value instead of a float).
    """

    def keep(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor | None:
        """What :meth:`relevance` needs from the forward pass (None: nothing)."""
        return None

    def relevance(self, kept: torch.Tensor | None, relevance: torch.Tensor) -> torch.Tensor:
        """The input relevance from the kept tensor and the output relevance."""
        raise NotImplementedError

    def forward(self, ctx: RuleContext, x: torch.Tensor) -> torch.Tensor:
        """The ordinary output; keeps what :meth:`relevance` needs."""
        output = self.call_original(x)
        ctx.input_shape = x.shape
        kept = self.keep(x, output)
        ctx.has_kept = kept is not None
        ctx.save(kept)
        return output

    def backward(self, ctx: RuleContext, relevance: torch.Tensor) -> torch.Tensor:
        """The element-wise relevance (a clear error if the layer changed the shape)."""
        if relevance.shape != ctx.input_shape:
            module = type(self.module).__name__ if self.module is not None else "layer"
            raise RuleConfigurationError(
                f"rule {self.name!r} needs an element-wise layer, but {module} maps shape "
                f"{tuple(ctx.input_shape)} to {tuple(relevance.shape)}"
            )
        (kept,) = ctx.saved
        return self.relevance(kept if ctx.has_kept else None, relevance)
