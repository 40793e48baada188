"""Attributors turn (model, composite, inputs, output relevance) into an input attribution.

:class:`Attributor` is the base every attributor builds on (SmoothGrad, integrated gradients and
occlusion live in plugins); :class:`Gradient` is the plain one: one forward, one backward, which a
composite's rules turn into LRP.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.targets import AttrOutput, make_attr_output
from relscope.core.errors import AttributionError
from relscope.core.parameters import EchoesParameters


class Attributor(EchoesParameters):
    """Base of all attributors: ``attributor(inputs, attr_output) -> (output, relevance)``.

    ``composite`` is a Composite, a registered composite name, or None (plain gradients). Calling
    the attributor enters the composite's context once around :meth:`compute`; using the attributor
    as a context manager (``with Gradient(model, composite) as attributor: ...``) keeps the rules
    registered across several calls, so modified weights are built only once.
    """

    #: registry name (set by subclasses)
    name: str = ""

    def __init__(self, model: nn.Module, composite: Any = None) -> None:
        if not isinstance(model, nn.Module):
            raise AttributionError(
                f"an attributor needs a torch.nn.Module, not {type(model).__name__}"
            )
        if isinstance(composite, str):
            from relscope.core.attribution.api import get_composite

            composite = get_composite(composite)
        self.model = model
        self.composite = composite
        self._stack: ExitStack | None = None

    def __enter__(self) -> Attributor:
        if self._stack is not None:
            raise AttributionError(f"{type(self).__name__} is already entered")
        stack = ExitStack()
        if self.composite is not None:
            stack.enter_context(self.composite.context(self.model))
        self._stack = stack
        return self

    def __exit__(self, *exc_info: Any) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(*exc_info)

    def __call__(
        self, inputs: torch.Tensor, attr_output: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attribute ``inputs`` (batch first); ``attr_output`` maps the model output to its relevance.

        ``attr_output`` may also be anything :func:`~relscope.core.attribution.targets.
        make_attr_output` accepts (an int class, one class per sample, a tensor, None = argmax).
        Returns the model output (detached) and the relevance, shaped like ``inputs``.
        """
        if not isinstance(inputs, torch.Tensor):
            raise AttributionError(f"inputs must be a torch.Tensor, not {type(inputs).__name__}")
        if not inputs.is_floating_point():
            raise AttributionError(
                f"inputs must be floating point (got {inputs.dtype}); convert images with .float()"
            )
        attr_fn = make_attr_output(attr_output)
        if self.composite is None or self._stack is not None:
            return self.compute(inputs, attr_fn)
        with self.composite.context(self.model):
            return self.compute(inputs, attr_fn)

    def compute(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The attribution proper (rules, if any, are registered); subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compute()")

    def gradient(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward and one backward pass: ``(output, d<output, attr_output(output)>/d inputs)``.

        Only the input gradient is computed (never parameter gradients); inside a composite context
        the rules make it the relevance at the input.
        """
        inputs = inputs.detach().requires_grad_(True)
        with torch.enable_grad():
            output = self.model(inputs)
            if not isinstance(output, torch.Tensor):
                raise AttributionError(
                    f"the model must return one tensor, not {type(output).__name__}"
                )
            grad_output = attr_output(output)
            if not output.requires_grad:
                raise AttributionError("the model output does not depend on the input")
            (grad,) = torch.autograd.grad(output, inputs, grad_outputs=grad_output)
        if getattr(self.composite, "gradient_times_input", False):  # AttnLRP/CP-LRP form
            grad = grad * inputs.detach()
        return output.detach(), grad


class Gradient(Attributor):
    """The input gradient of the output relevance; with an LRP composite, the LRP relevance."""

    name = "gradient"

    def compute(
        self, inputs: torch.Tensor, attr_output: AttrOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward and backward pass."""
        return self.gradient(inputs, attr_output)
