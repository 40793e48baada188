"""The categories of an analysis as the explorer lists them: ranked by separability, with scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relscope.core.analysis.ranking import rank_categories
from relscope.core.data.analysis import Analysis


def ranked_categories(analysis: Analysis, name_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """``[{id, name, count, separability, best_clustering, scores}]``, best-separated first
    (unscored categories last, in file order among themselves when none is scored)."""
    if not any(part.separability for part in analysis.categories.values()):
        order = list(analysis.categories)
    else:
        order = [rank.category for rank in rank_categories(analysis.categories)]
    result = []
    for cid in order:
        part = analysis.categories[cid]
        best = part.best_clustering
        result.append(
            {
                "id": cid,
                "name": name_of(cid),
                "count": len(part),
                "separability": None if best is None else best[1],
                "best_clustering": None if best is None else best[0],
                "scores": dict(part.separability),
            }
        )
    return result
