"""ConvNeXt blocks: fold the layer scale into the last linear layer, make the residual a Sum.

torchvision's ``CNBlock`` computes ``layer_scale * block(x) + x``. The per-channel layer scale
follows the block's last ``Linear`` (only a permutation in between), so it folds into that layer's
weights and bias exactly like a batch norm; the addition becomes an explicit ``residual_sum``.
Layer norms are handled by :class:`~relscope.plugins.canonizers.pass_through.PassThroughCanonizer`.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.convnext_canonizer` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.convnext_canonizer"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the ConvNeXt block canonizer."""
    register(
        "convnext_block",
        lazy(
            f"{IMPLEMENTATION}:ConvNeXtBlockCanonizer",
            Parameter("attribute_map", "AttributeMap | None"),
        ),
        description="Fold each ConvNeXt block's layer scale into its last Linear and make its residual a Sum.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
