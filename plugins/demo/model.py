"""The demo's small CNN for 1×32×32 digits; ``small_cnn`` is a ``package.module:factory`` model spec."""

from __future__ import annotations

from torch import nn


class SmallCNN(nn.Sequential):
    """Three conv blocks and two dense layers: trains on CPU in seconds, big enough to find a shortcut."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, classes),
        )


def small_cnn() -> SmallCNN:
    """Factory for ``--model relscope.plugins.demo.model:small_cnn`` (weights via ``--weights``)."""
    return SmallCNN()
