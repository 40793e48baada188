"""ResNet residual blocks: make the ``out += identity`` of BasicBlock and Bottleneck an explicit Sum.

The addition in a residual block copies the relevance to both summands when it is left to the
gradient, doubling it at every block. This attribute canonizer gives each torchvision
``BasicBlock`` and ``Bottleneck`` (whose ``forward`` is not overridden by a subclass) a
``residual_sum`` module and a forward that adds through it; composites give ``Sum`` the ``norm``
rule, which splits the relevance in proportion to the two summands.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.residual_canonizer` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.residual_canonizer"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the ResNet residual-block canonizer."""
    register(
        "resnet_residual",
        lazy(
            f"{IMPLEMENTATION}:ResidualBlockCanonizer",
            Parameter("attribute_map", "AttributeMap | None"),
        ),
        description="Give torchvision ResNet blocks an explicit ``residual_sum`` (a ``Sum``) for the addition.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
