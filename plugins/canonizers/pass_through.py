"""Relevance pass-through: let relevance cross an element-wise-like operation unchanged.

Some operations have no LRP rule of their own but act on each value separately once their
statistics are taken as given, like batch norm in eval mode: layer normalisation (its mean and
deviation treated as constants) and fixed per-channel input transforms. The spec's ``pass`` rule
(``R_in = R``) applies to them. :func:`relevance_pass` computes the operation's output as usual and
hands the incoming relevance (gradient) to the input unchanged; :class:`PassThroughCanonizer`
installs it on every module of the given types.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.pass_through_canonizer` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.pass_through_canonizer"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the layer-norm pass-through canonizer."""
    register(
        "layer_norm_pass",
        lazy(
            f"{IMPLEMENTATION}:PassThroughCanonizer",
            Parameter(
                "types",
                "tuple[type[nn.Module], ...]",
                "(<class 'torch.nn.modules.normalization.LayerNorm'>,)",
            ),
        ),
        description="Make modules of ``types`` (default: LayerNorm) pass relevance through unchanged.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
