"""The token attribution job of a data-set run: each batch of ``(2, T)`` ids and masks embedded,
the model attributed at its input embeddings under the batch's attention mask, and the relevance
summed over the embedding per token (``(N, T)``, masked positions exactly zero).

Sequence classifiers are attributed towards a class (``label``, ``prediction`` or an index);
causal language models towards the logits at the last real position, or, with ``next-token``,
towards the data's last token as predicted from the position before it. The file gets the
ordinary attribution keys plus ``input_ids`` (N, T), so an analysis can see which token was where.
Runs through :func:`relscope.core.runs.batch_loop.run_batches` like image runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from relscope.core.data.labels import labels_array
from relscope.core.errors import AttributeUsageError, AttributionError
from relscope.core.runs.attribution_run import AttributionJob, target_relevance

#: the --target of a causal language model that explains the data's own last token
NEXT_TOKEN = "next-token"


class TokenLogits(nn.Module):
    """A Hugging Face token model as a function of its input embeddings, under the attention mask
    of the current batch; a causal LM gives the logits at ``positions`` (one per row)."""

    def __init__(self, model: nn.Module, causal_lm: bool) -> None:
        super().__init__()
        self.model = model
        self.causal_lm = causal_lm
        self.attention_mask: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None

    def embeddings(self) -> nn.Module:
        """The model's token embedding (ids -> vectors)."""
        return self.model.get_input_embeddings()

    def forward(self, embedded: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs_embeds=embedded, attention_mask=self.attention_mask).logits
        if not self.causal_lm:
            return logits
        assert self.positions is not None, "set positions before calling a causal LM"
        return logits[torch.arange(logits.shape[0], device=logits.device), self.positions]


def token_model(loaded: Any, spec: str, target: str | int) -> TokenLogits:
    """The run's model for token data: an ``hf:`` text model (sequence classifier or causal LM),
    checked against ``target`` (``next-token`` needs a causal LM)."""
    from relscope.core.hf_loading import HFLogits

    if not isinstance(loaded, HFLogits) or loaded.input_key != "inputs_embeds":
        raise AttributeUsageError(
            f"--model {spec}: token data needs a text model given as hf:<folder> "
            "(a ...ForSequenceClassification or ...ForCausalLM saved with save_pretrained)"
        )
    if target == NEXT_TOKEN and not loaded.last_position:
        raise AttributeUsageError(
            f"--target {NEXT_TOKEN}: needs a causal language model, {spec} is a classifier"
        )
    return TokenLogits(loaded.model, causal_lm=loaded.last_position)


class TokenAttributionJob(AttributionJob):
    """Attribute token batches at the embeddings; store per-token relevance and the ids."""

    extra_columns = ("input_ids",)

    def compute(self, inputs: Any, labels: list[list[int]]) -> dict[str, np.ndarray]:
        """Per-token relevance (B, T), model output, labels and ids of one batch."""
        model: TokenLogits = self.attributor.model
        ids, mask = inputs[:, 0], inputs[:, 1]
        lengths = mask.sum(1)
        target: Any = target_relevance(self.target, labels)
        if model.causal_lm:
            if self.target == NEXT_TOKEN:
                if int(lengths.min()) < 2:
                    raise AttributionError(
                        f"--target {NEXT_TOKEN}: every sample needs at least 2 tokens"
                    )
                rows = torch.arange(len(ids), device=ids.device)
                target = ids[rows, lengths - 1].tolist()
                model.positions = lengths - 2
            else:
                model.positions = lengths - 1
        model.attention_mask = mask
        with torch.no_grad():
            embedded = model.embeddings()(ids)
        output, relevance = self.attributor(embedded, target)
        per_token = relevance.detach().float().sum(-1) * mask.to(relevance.dtype)
        return {
            "attribution": per_token.cpu().numpy(),
            "prediction": output.detach().float().cpu().numpy().reshape(len(labels), -1),
            "label": labels_array(labels, self.inputs.multi_label, self.inputs.label_column.width),
            "input_ids": ids.cpu().numpy().astype(np.int64),
        }
