"""The front door: ``attribute(model, inputs, target=..., composite=...)`` and registry lookups."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attributor import Attributor
from relscope.core.attribution.composite import Composite
from relscope.core.attribution.targets import make_attr_output
from relscope.core.errors import AttributionError, RuleConfigurationError
from relscope.core.registry import get_registry


def _construct(kind: str, name: str, cls: Any, params: dict[str, Any]) -> Any:
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        try:
            accepted = ", ".join(
                p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")
            )
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            accepted = "?"
        raise RuleConfigurationError(
            f"{kind} {name!r}: {exc}; it accepts: {accepted or 'no parameters'}"
        ) from None
    return cls(**params)


def get_composite(name: str, **params: Any) -> Composite:
    """A new instance of the composite registered as ``name`` (unknown names list the known)."""
    if not isinstance(name, str):
        raise RuleConfigurationError(f"a composite name must be a string, not {name!r}")
    cls = get_registry("composites").lookup(name)
    if isinstance(cls, Composite):
        if params:
            raise RuleConfigurationError(
                f"composite {name!r} is an instance and takes no parameters"
            )
        return cls
    return _construct("composite", name, cls, params)


def get_attributor(name: str, **params: Any) -> Attributor:
    """A new instance of the attributor registered as ``name``; ``params`` include ``model=``."""
    if not isinstance(name, str):
        raise RuleConfigurationError(f"an attributor name must be a string, not {name!r}")
    cls = get_registry("attributors").lookup(name)
    if "model" not in params:
        raise RuleConfigurationError(f"attributor {name!r} needs model=<torch.nn.Module>")
    return _construct("attributor", name, cls, params)


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
        instance = _construct("attributor", attributor.__name__, attributor, params)
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
