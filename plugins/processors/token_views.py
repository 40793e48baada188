"""Fixed-length views of token relevance for SpRAy: sequences differ in length and wording, so
the pipeline compares them through a view in which equal features mean the same thing.

Both take the ``{"relevance": (N, T), "input_ids": (N, T)}`` batch that token attributions load
as, and return (N, features) normalised per sample (padding carries zero relevance, so it adds
nothing). Choose one as SpRAy's preprocessing: ``relscope analyze --task preprocess=token_bag``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core import hookimpl
from relscope.core.analysis import Param, Processor, at_least, one_of, processor
from relscope.core.errors import ProcessorError


def _token_batch(data: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, dict) or not {"relevance", "input_ids"} <= set(data):
        raise ProcessorError(
            f"{owner}: expected token relevance ({{'relevance', 'input_ids'}} of an attribution "
            "file written from token data), got "
            f"{type(data).__name__}{list(getattr(data, 'shape', []))}"
        )
    relevance = np.asarray(data["relevance"], dtype=np.float32)
    ids = np.asarray(data["input_ids"], dtype=np.int64)
    if relevance.ndim != 2 or relevance.shape != ids.shape:
        raise ProcessorError(
            f"{owner}: relevance {list(relevance.shape)} and input_ids {list(ids.shape)} must "
            "both be (N, T)"
        )
    return relevance, ids


def _normalised(features: np.ndarray, norm: str) -> np.ndarray:
    if norm == "none":
        return features
    magnitude = np.abs(features.astype(np.float64))
    scale = np.sqrt((magnitude**2).sum(1)) if norm == "l2" else magnitude.sum(1)
    scale[scale == 0] = 1.0
    return (features / scale[:, None]).astype(np.float32)


@processor
class TokenBagOfRelevance(Processor):
    """Relevance summed per vocabulary id: (N, V), ``V`` = ``vocabulary_size`` (0: highest id
    in the batch + 1). Two reviews that rely on the same words look alike, wherever the words are."""

    vocabulary_size: int = Param(int, 0, check=at_least(0))
    norm: str = Param(str, "l2", check=one_of("l2", "l1", "none"))

    def function(self, data: Any) -> Any:
        """Scatter-add each position's relevance onto its id, then normalise per sample."""
        relevance, ids = _token_batch(data, "TokenBagOfRelevance")
        size = self.vocabulary_size or int(ids.max(initial=-1)) + 1
        if ids.size and int(ids.max()) >= size:
            raise ProcessorError(
                f"TokenBagOfRelevance: id {int(ids.max())} is outside vocabulary_size {size}"
            )
        rows = np.repeat(np.arange(len(ids)), ids.shape[1])
        bag = np.zeros((len(ids), size), dtype=np.float64)
        np.add.at(bag, (rows, ids.reshape(-1)), relevance.reshape(-1))
        return _normalised(bag.astype(np.float32), self.norm)


@processor
class TokenPositions(Processor):
    """Relevance per position (N, T), normalised per sample: where in the sequence a model looks."""

    norm: str = Param(str, "l2", check=one_of("l2", "l1", "none"))

    def function(self, data: Any) -> Any:
        """The per-position relevance, normalised."""
        relevance, _ = _token_batch(data, "TokenPositions")
        return _normalised(relevance, self.norm)


@hookimpl
def register_processors(register: Any) -> None:
    """Register the token views."""
    register("token_bag", TokenBagOfRelevance)
    register("token_positions", TokenPositions)
