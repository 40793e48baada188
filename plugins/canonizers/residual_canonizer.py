"""ResNet residual blocks: make the ``out += identity`` of BasicBlock and Bottleneck an explicit Sum.

The addition in a residual block copies the relevance to both summands when it is left to the
gradient, doubling it at every block. This attribute canonizer gives each torchvision
``BasicBlock`` and ``Bottleneck`` (whose ``forward`` is not overridden by a subclass) a
``residual_sum`` module and a forward that adds through it; composites give ``Sum`` the ``norm``
rule, which splits the relevance in proportion to the two summands. The summands are given to the
``Sum`` one by one (``residual_sum(out, identity)``): the ``norm`` rule adds them and keeps them as
they are, with no stacked copy (other rules see them stacked on a new first axis, ``Sum(dim=0)``).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from relscope.core.attribution.attribute_canonizer import AttributeCanonizer
from relscope.core.attribution.sum_layer import Sum


def _basic_block_forward(self: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """torchvision's BasicBlock.forward with the residual addition through ``residual_sum``."""
    identity = x
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    if self.downsample is not None:
        identity = self.downsample(x)
    out = self.residual_sum(out, identity)
    return self.relu(out)


def _bottleneck_forward(self: Bottleneck, x: torch.Tensor) -> torch.Tensor:
    """torchvision's Bottleneck.forward with the residual addition through ``residual_sum``."""
    identity = x
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    if self.downsample is not None:
        identity = self.downsample(x)
    out = self.residual_sum(out, identity)
    return self.relu(out)


_FORWARDS = {BasicBlock: _basic_block_forward, Bottleneck: _bottleneck_forward}


class ResidualBlockCanonizer(AttributeCanonizer):
    """Give torchvision ResNet blocks an explicit ``residual_sum`` (a ``Sum``) for the addition."""

    name = "resnet_residual"

    def attribute_map(self, name: str, module: nn.Module) -> Mapping[str, Any] | None:
        """A new forward and a ``Sum`` for BasicBlock/Bottleneck instances with torchvision's forward."""
        for block, forward in _FORWARDS.items():
            if isinstance(module, block) and type(module).forward is block.forward:
                return {"residual_sum": Sum(dim=0), "forward": types.MethodType(forward, module)}
        return None

    def copy(self) -> ResidualBlockCanonizer:
        """A fresh, unregistered instance."""
        return type(self)()
