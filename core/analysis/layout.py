"""Sort a pipeline's outputs into the analysis file layout: embeddings and clusterings by name.

A 2-D float array is an embedding; ``(eigenvalues, vectors)`` is an embedding with eigenvalues; a
1-D integer array is a clustering; a dict names its items (int keys ``k`` become ``<name>-kk``); a
non-empty dict of plain numbers is the separability score of each clustering (by clustering name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from relscope.core.errors import ProcessorError

if TYPE_CHECKING:
    from relscope.core.data.analysis import CategoryAnalysis


def _is_eigen_pair(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], np.ndarray)
        and isinstance(value[1], np.ndarray)
        and value[0].ndim == 1
        and value[1].ndim == 2
    )


def _is_score_map(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in value.values()
        )
    )


def split_scores(outputs: Mapping[Any, Any]) -> tuple[dict[Any, Any], dict[str, float]]:
    """The outputs without their score maps, and the scores merged (clustering name -> score)."""
    rest: dict[Any, Any] = {}
    scores: dict[str, float] = {}
    for key, value in outputs.items():
        if _is_score_map(value):
            scores.update({str(name): float(score) for name, score in value.items()})
        else:
            rest[key] = value
    return rest, scores


def split_outputs(
    outputs: Mapping[Any, Any],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None], dict[str, np.ndarray]]:
    """``(embeddings, eigenvalues, clusterings)`` named after the (nested) output keys."""
    embeddings: dict[str, np.ndarray] = {}
    eigenvalues: dict[str, np.ndarray | None] = {}
    clusterings: dict[str, np.ndarray] = {}

    def claim(name: str) -> str:
        if name in embeddings or name in clusterings:
            raise ProcessorError(f"two pipeline outputs are both called {name!r}")
        return name

    def visit(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                child = f"{name}-{key:02d}" if isinstance(key, int) and name else str(key)
                visit(child, item)
        elif _is_eigen_pair(value):
            embeddings[claim(name)] = np.asarray(value[1], dtype=np.float32)
            eigenvalues[name] = np.asarray(value[0], dtype=np.float64)
        elif isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] >= 2:
            embeddings[claim(name)] = np.asarray(value, dtype=np.float32)
            eigenvalues[name] = None
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iub":
            clusterings[claim(name)] = value.astype(np.int32)
        else:
            what = type(value).__name__
            if isinstance(value, np.ndarray):
                what = f"{value.dtype}{list(value.shape)} array"
            raise ProcessorError(
                f"pipeline output {name!r} ({what}) is neither an embedding (M, D>=2) float "
                "array, an (eigenvalues, vectors) pair, nor (M,) integer cluster ids"
            )

    for key, value in outputs.items():
        visit(str(key), value)
    return embeddings, eigenvalues, clusterings


def category_analysis(index: np.ndarray, outputs: Mapping[Any, Any]) -> CategoryAnalysis:
    """The :class:`CategoryAnalysis` of points ``index`` from one pipeline run's ``outputs``."""
    from relscope.core.data.analysis import CategoryAnalysis

    rest, scores = split_scores(outputs)
    embeddings, eigenvalues, clusterings = split_outputs(rest)
    unknown = sorted(set(scores) - set(clusterings))
    if unknown:
        raise ProcessorError(f"separability scores for clusterings the pipeline lacks: {unknown}")
    return CategoryAnalysis(
        index=np.asarray(index),
        embeddings=embeddings,
        eigenvalues=eigenvalues,
        clusterings=clusterings,
        separability=scores,
    )
