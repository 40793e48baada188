"""The text demo's model: a tiny BERT sequence classifier (random init from a config, no download)
trained on CPU in seconds, and its accuracy on held-out reviews."""

from __future__ import annotations

from typing import Any

import numpy as np

#: the classifier's size: small enough for seconds on one CPU core, big enough for the shortcut
CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "num_labels": 2,
}


def tiny_bert(vocabulary_size: int, max_length: int) -> Any:
    """A randomly initialised ``BertForSequenceClassification`` of :data:`CONFIG`."""
    import transformers

    config = transformers.BertConfig(
        vocab_size=vocabulary_size, max_position_embeddings=max_length, **CONFIG
    )
    return transformers.BertForSequenceClassification(config)


def train_text_classifier(
    model: Any,
    ids: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 8,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> Any:
    """Train with Adam on (N, T) ids under their mask; deterministic for a given seed."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    m = torch.from_numpy(np.asarray(mask, dtype=np.int64))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = model(input_ids=x[batch], attention_mask=m[batch], labels=y[batch]).loss
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if progress:
            print(f"  epoch {epoch + 1:2d}/{epochs}  loss {total / len(x):.4f}", flush=True)
    model.eval()
    return model


def text_accuracy(model: Any, ids: np.ndarray, mask: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of reviews ``model`` classifies as ``labels``."""
    import torch

    with torch.no_grad():
        logits = model(
            input_ids=torch.from_numpy(np.asarray(ids, dtype=np.int64)),
            attention_mask=torch.from_numpy(np.asarray(mask, dtype=np.int64)),
        ).logits
    return float((logits.argmax(1).numpy() == np.asarray(labels)).mean())
