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
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision import models

from relscope.core.attribution.attribute_canonizer import AttributeCanonizer
from relscope.core.attribution.canonizer import Canonizer
from relscope.core.attribution.canonizer_chain import CompositeCanonizer
from relscope.plugins.canonizers.batchnorm_merging import MergeBatchNorm
from relscope.plugins.canonizers.convnext_canonizer import ConvNeXtBlockCanonizer
from relscope.plugins.canonizers.graph_canonizer import GraphCanonizer
from relscope.plugins.canonizers.pass_through_canonizer import PassThroughCanonizer, relevance_pass
from relscope.plugins.canonizers.residual_canonizer import ResidualBlockCanonizer
from relscope.plugins.canonizers.squeeze_excitation_canonizer import SqueezeExcitationCanonizer

torch.fx.wrap("relevance_pass")  # stays one call when the graph canonizer traces the new forward


class VGGCanonizer(CompositeCanonizer):
    """VGG with or without batch norm: merge each batch norm into the convolution before it."""

    name = "vgg"

    def __init__(self) -> None:
        super().__init__([MergeBatchNorm()])


class ResNetCanonizer(CompositeCanonizer):
    """ResNet/ResNeXt/Wide ResNet: merge batch norms, make each block's residual addition a Sum."""

    name = "resnet"

    def __init__(self) -> None:
        super().__init__([MergeBatchNorm(), ResidualBlockCanonizer()])


class ConvNeXtCanonizer(CompositeCanonizer):
    """ConvNeXt: fold layer scales, residual sums, layer norms pass relevance unchanged."""

    name = "convnext"

    def __init__(self) -> None:
        super().__init__([ConvNeXtBlockCanonizer(), PassThroughCanonizer((nn.LayerNorm,))])


class CNNCanonizer(CompositeCanonizer):
    """CNNs of torch layers: merge batch norms, gate relevance to the signal, functional ops as modules.

    Squeeze-excitation gates give all relevance to the gated signal; functional additions,
    concatenations, activations and poolings in ``forward`` become modules (graph canonizer).
    """

    name = "cnn"

    def __init__(self) -> None:
        super().__init__([MergeBatchNorm(), SqueezeExcitationCanonizer(), GraphCanonizer()])


def _transform_input_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    original = type(self)._transform_input
    return relevance_pass(x, original(self, x))


class InputTransformCanonizer(AttributeCanonizer):
    """GoogLeNet/Inception v3 ``transform_input``: the input transform passes relevance unchanged.

    The transform is a fixed per-channel affine map; left to the gradient it would scale the
    relevance by constants such as 0.229 / 0.5.
    """

    name = "input_transform"

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """A pass-through ``_transform_input`` when the model transforms its input."""
        if isinstance(module, (models.GoogLeNet, models.Inception3)) and module.transform_input:
            return {"_transform_input": types.MethodType(_transform_input_forward, module)}
        return None

    def copy(self) -> InputTransformCanonizer:
        """A fresh, unregistered instance."""
        return type(self)()


class InceptionCanonizer(CompositeCanonizer):
    """GoogLeNet and Inception v3: batch-norm merging, input transform, functional operations."""

    name = "inception"

    def __init__(self) -> None:
        super().__init__([MergeBatchNorm(), InputTransformCanonizer(), GraphCanonizer()])


_FAMILIES: tuple[tuple[tuple[type[nn.Module], ...], type[Canonizer] | None], ...] = (
    ((models.VGG,), VGGCanonizer),
    ((models.ResNet,), ResNetCanonizer),
    ((models.ConvNeXt,), ConvNeXtCanonizer),
    ((models.GoogLeNet, models.Inception3), InceptionCanonizer),
    (
        (
            models.DenseNet,
            models.MobileNetV2,
            models.MobileNetV3,
            models.EfficientNet,
            models.RegNet,
            models.MNASNet,
            models.ShuffleNetV2,
            models.SqueezeNet,
        ),
        CNNCanonizer,
    ),
    ((models.AlexNet,), None),
    # attention models: AttnLRP/CP-LRP need no canonizer; CNN composites warn about attention
    ((models.VisionTransformer, models.SwinTransformer, models.MaxVit), None),
)


def torchvision_canonizers(model: nn.Module) -> list[Canonizer] | None:
    """Fresh canonizers for a torchvision classification model; None for any other model.

    ViT, Swin and MaxViT need none (their attention is handled by ``attn_lrp``/``cp_lrp``).
    """
    for family, canonizer in _FAMILIES:
        if isinstance(model, family):
            return [] if canonizer is None else [canonizer()]
    return None
