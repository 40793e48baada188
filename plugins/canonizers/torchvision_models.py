"""The canonizers each torchvision classification model needs, found by the ``default_canonizers``
hook so that every composite applies them without being asked.

| family | canonizer |
|---|---|
| VGG (with or without BN) | ``vgg``: batch-norm merging |
| ResNet, ResNeXt, Wide ResNet | ``resnet``: batch-norm merging, explicit residual sums |
| ConvNeXt | ``convnext``: layer scale folded, residual sums, layer norm passes relevance |
| GoogLeNet, Inception v3 | ``inception``: batch-norm merging, input transform passes, graph |
| DenseNet, MobileNet v2/v3, EfficientNet (v1/v2), RegNet, MNASNet, ShuffleNet v2, SqueezeNet | ``cnn``: batch-norm merging, squeeze-excitation gates, graph |
| AlexNet | none needed |
| ViT, Swin (v1/v2), MaxViT | none (``attn_lrp`` / ``cp_lrp`` handle attention) |

This module is the light entry point: it registers by import path, and the implementation
in :mod:`relscope.plugins.canonizers.model_families` is imported when an object is first fetched.
"""

from __future__ import annotations

import sys
from typing import Any

from relscope.core import Parameter, hookimpl, lazy
from relscope.core.lazy_reference import implementation_attribute

IMPLEMENTATION = "relscope.plugins.canonizers.model_families"


@hookimpl
def default_canonizers(model: Any) -> Any:
    """The canonizers a torchvision classification model needs (None for other models)."""
    if "torch" not in sys.modules:  # no torch imported: ``model`` cannot be a torch module
        return None
    from torch import nn

    if not isinstance(model, nn.Module):
        return None
    return implementation_attribute(IMPLEMENTATION, "torchvision_canonizers")(model)


@hookimpl
def register_canonizers(register: Any) -> None:
    """Register the model-family canonizers."""
    register(
        "cnn",
        lazy(f"{IMPLEMENTATION}:CNNCanonizer"),
        description="CNNs of torch layers: merge batch norms, gate relevance to the signal, functional ops as modules.",
    )
    register(
        "convnext",
        lazy(f"{IMPLEMENTATION}:ConvNeXtCanonizer"),
        description="ConvNeXt: fold layer scales, residual sums, layer norms pass relevance unchanged.",
    )
    register(
        "inception",
        lazy(f"{IMPLEMENTATION}:InceptionCanonizer"),
        description="GoogLeNet and Inception v3: batch-norm merging, input transform, functional operations.",
    )
    register(
        "input_transform",
        lazy(
            f"{IMPLEMENTATION}:InputTransformCanonizer",
            Parameter("attribute_map", "AttributeMap | None"),
        ),
        description="GoogLeNet/Inception v3 ``transform_input``: the input transform passes relevance unchanged.",
    )
    register(
        "resnet",
        lazy(f"{IMPLEMENTATION}:ResNetCanonizer"),
        description="ResNet/ResNeXt/Wide ResNet: merge batch norms, make each block's residual addition a Sum.",
    )
    register(
        "vgg",
        lazy(f"{IMPLEMENTATION}:VGGCanonizer"),
        description="VGG with or without batch norm: merge each batch norm into the convolution before it.",
    )


def __getattr__(name: str) -> Any:
    """Names of the implementation module, imported on first use."""
    return implementation_attribute(IMPLEMENTATION, name)
