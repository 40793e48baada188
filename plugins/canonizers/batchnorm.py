"""Batch-norm merging: fold each eval-mode batch norm into the linear layer next to it.

A batch norm in eval mode is an affine map per channel, ``y = s * x + t``. Right after a linear
layer (Linear, Conv, ConvTranspose) it folds into that layer's weights and bias; right before one it
folds into the weights of the next layer (exact for Linear and unpadded convolutions). Which layer
is next to which is read from a torch.fx trace of the forward, i.e. the order in which layers run,
not the order in which they are defined. The merged batch norm stays in the model as an exact
identity (weight 1, bias 0, mean 0 and a variance that makes ``sqrt(var + eps) == 1`` bit for
bit), because torch refuses ``eps = 0``.

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.batchnorm_merging` is imported when an object is first fetched.
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.batchnorm_merging"


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the batch-norm merging canonizer."""
    register(
        "merge_batchnorm",
        lazy(f"{IMPLEMENTATION}:MergeBatchNorm"),
        description="Fold eval-mode batch norms into the adjacent linear layer, found from the traced run order.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
