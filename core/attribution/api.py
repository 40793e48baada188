"""The front door: ``attribute(model, inputs, target=..., composite=...)`` and registry lookups."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attributor import Attributor
from relscope.core.attribution.composite import Composite
from relscope.core.attribution.targets import make_attr_output
from relscope.core.errors import AttributionError, RuleConfigurationError
from relscope.core.registry import get_registry


def get_composite(name: str, **params: Any) -> Composite:
    """A new instance of the composite registered as ``name`` (unknown names list the known)."""
    if not isinstance(name, str):
        raise RuleConfigurationError(f"a composite name must be a string, not {name!r}")
    return get_registry("composites").create(name, **params)


def get_attributor(name: str, **params: Any) -> Attributor:
    """A new instance of the attributor registered as ``name``; ``params`` include ``model=``."""
    if not isinstance(name, str):
        raise RuleConfigurationError(f"an attributor name must be a string, not {name!r}")
    if "model" not in params:
        raise RuleConfigurationError(f"attributor {name!r} needs model=<torch.nn.Module>")
    return get_registry("attributors").create(name, **params)


def attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Any = None,
    composite: Composite | str | None = None,
    attributor: str | type[Attributor] = "gradient",
    return_convergence_delta: bool = False,
    **attributor_params: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Relevance of ``inputs`` (batch first, same shape) for ``target``.

    ``target``: an int class, one int per sample, a tensor of output relevance, a callable
    ``output -> output relevance``, or None (each sample's top class); classes become one-hot
    output relevance. ``composite``: a Composite, a registered name, or None (plain gradient).
    ``attributor``: a registered name or Attributor class, built with ``attributor_params``.
    With ``return_convergence_delta=True`` also returns, per sample, the output relevance minus
    the input relevance (zero when relevance is conserved).
    """
    if isinstance(composite, str):
        composite = get_composite(composite)
    elif composite is not None and not isinstance(composite, Composite):
        raise AttributionError(
            f"composite must be a Composite, a registered composite name or None, not {composite!r}"
        )
    params = dict(attributor_params, model=model, composite=composite)
    if isinstance(attributor, str):
        instance = get_attributor(attributor, **params)
    elif isinstance(attributor, type) and issubclass(attributor, Attributor):
        instance = get_registry("attributors").create(attributor, **params)
    else:
        raise AttributionError(
            f"attributor must be a registered name or an Attributor class, not {attributor!r}"
        )
    attr_output = make_attr_output(target)
    output, relevance = instance(inputs, attr_output)
    if not return_convergence_delta:
        return relevance
    with torch.no_grad():
        out_relevance = attr_output(output)
        if getattr(composite, "gradient_times_input", False):  # output relevance: y ∘ gradient
            out_relevance = out_relevance * output
        delta = out_relevance.reshape(out_relevance.shape[0], -1).sum(1) - relevance.reshape(
            relevance.shape[0], -1
        ).sum(1).to(out_relevance.dtype)
    return relevance, delta
