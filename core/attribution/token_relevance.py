"""Relevance per token for language models, which are attributed at their input embeddings."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relscope.core.errors import AttributionError


def sum_per_token(relevance: torch.Tensor) -> torch.Tensor:
    """``(batch, tokens, hidden)`` embedding relevance → ``(batch, tokens)``: one value per token."""
    if relevance.dim() != 3:
        raise AttributionError(
            f"token relevance needs (batch, tokens, hidden) embedding relevance, got shape "
            f"{tuple(relevance.shape)}"
        )
    return relevance.sum(-1)


def token_relevance(
    model: nn.Module,
    embeddings: nn.Module,
    input_ids: torch.Tensor,
    target: Any = None,
    composite: Any = "attn_lrp",
) -> torch.Tensor:
    """Relevance of each token of ``input_ids`` (batch, tokens): embed them with ``embeddings``
    (e.g. ``lm.get_input_embeddings()``), attribute ``model(embeddings) -> logits`` and sum the
    relevance of each token's embedding."""
    from relscope.core.attribution.api import attribute

    with torch.no_grad():
        embedded = embeddings(input_ids)
    return sum_per_token(attribute(model, embedded, target=target, composite=composite))
