"""ConvNeXt blocks: fold the layer scale into the last linear layer, make the residual a Sum.

torchvision's ``CNBlock`` computes ``layer_scale * block(x) + x``. The per-channel layer scale
follows the block's last ``Linear`` (only a permutation in between), so it folds into that layer's
weights and bias exactly like a batch norm; the addition becomes an explicit ``residual_sum``.
Layer norms are handled by :class:`~relscope.plugins.canonizers.pass_through.PassThroughCanonizer`.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision.models.convnext import CNBlock

from relscope.core.attribution.attribute_canonizer import AttributeCanonizer
from relscope.core.attribution.sum_layer import Sum
from relscope.core.errors import UnsupportedModelError


def _block_forward(self: CNBlock, x: torch.Tensor) -> torch.Tensor:
    """torchvision's CNBlock.forward with the layer scale folded and the addition explicit."""
    result = self.stochastic_depth(self.block(x))
    return self.residual_sum(torch.stack([result, x], dim=-1))


class ConvNeXtBlockCanonizer(AttributeCanonizer):
    """Fold each ConvNeXt block's layer scale into its last Linear and make its residual a Sum."""

    name = "convnext_block"

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """Fold the scale (recorded for undo) and return the new forward and ``Sum``."""
        if not isinstance(module, CNBlock) or type(module).forward is not CNBlock.forward:
            return None
        linears = [layer for layer in module.block if isinstance(layer, nn.Linear)]
        scale = module.layer_scale.detach()
        if not linears or scale.numel() != linears[-1].out_features:
            raise UnsupportedModelError(
                f"not supported yet: ConvNeXt block {name!r} whose layer scale does not follow a "
                "Linear layer"
            )
        last = linears[-1]
        factor = scale.reshape(-1).double()
        weight = last.weight.detach().double() * factor[:, None]
        self.set_tensor_data(last.weight, weight.to(last.weight.dtype))
        if last.bias is not None:
            bias = last.bias.detach().double() * factor
            self.set_tensor_data(last.bias, bias.to(last.bias.dtype))
        return {"residual_sum": Sum(), "forward": types.MethodType(_block_forward, module)}

    def copy(self) -> ConvNeXtBlockCanonizer:
        """A fresh, unregistered instance."""
        return type(self)()
