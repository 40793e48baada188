"""Seeded CPU training of the demo models (one loop, a batch loss per model), and the CNN's
accuracy on held-out data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn


def train_in_batches(
    model: nn.Module,
    tensors: Sequence[torch.Tensor],
    batch_loss: Callable[[Sequence[torch.Tensor]], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    progress: bool = True,
) -> nn.Module:
    """Seeded Adam over shuffled batches of ``tensors`` (rows = samples); ``batch_loss`` turns
    one batch (the tensors' rows, in order) into the loss. Deterministic for a given seed."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    count = len(tensors[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(count, generator=generator)
        total = 0.0
        for start in range(0, count, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = batch_loss([tensor[batch] for tensor in tensors])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if progress:
            print(f"  epoch {epoch + 1:2d}/{epochs}  loss {total / count:.4f}", flush=True)
    model.eval()
    return model


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
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def batch_loss(batch: Sequence[torch.Tensor]) -> torch.Tensor:
        return loss_fn(model(batch[0]), batch[1])

    return train_in_batches(
        model,
        (x, y),
        batch_loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        progress=progress,
    )


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` that ``model`` classifies as ``labels``."""
    model.eval()
    logits = model(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
    return float((logits.argmax(1).numpy() == np.asarray(labels)).mean())
