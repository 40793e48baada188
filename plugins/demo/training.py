"""Seeded CPU training of the demo CNN, and its accuracy on held-out data."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def train_classifier(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 12,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> nn.Module:
    """Train ``model`` with Adam on (N, C, H, W) float images; deterministic for a given seed."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if progress:
            print(f"  epoch {epoch + 1:2d}/{epochs}  loss {total / len(x):.4f}", flush=True)
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` that ``model`` classifies as ``labels``."""
    model.eval()
    logits = model(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
    return float((logits.argmax(1).numpy() == np.asarray(labels)).mean())
