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

    from relscope.plugins.demo.training import train_in_batches

    x = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    m = torch.from_numpy(np.asarray(mask, dtype=np.int64))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def batch_loss(batch: Any) -> Any:
        return model(input_ids=batch[0], attention_mask=batch[1], labels=batch[2]).loss

    return train_in_batches(
        model,
        (x, m, y),
        batch_loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        progress=progress,
    )


def text_accuracy(model: Any, ids: np.ndarray, mask: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of reviews ``model`` classifies as ``labels``."""
    import torch

    with torch.no_grad():
        logits = model(
            input_ids=torch.from_numpy(np.asarray(ids, dtype=np.int64)),
            attention_mask=torch.from_numpy(np.asarray(mask, dtype=np.int64)),
        ).logits
    return float((logits.argmax(1).numpy() == np.asarray(labels)).mean())
