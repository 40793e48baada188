"""Class ranking (Anders et al. 2022): categories ordered by the separability of their best
clustering, so that classes with distinct sub-strategies come first."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from relscope.core.data.analysis import CategoryAnalysis


@attrs.frozen
class CategoryRank:
    """One category's place in the ranking: its best clustering and that clustering's score."""

    category: str
    score: float | None
    clustering: str | None


def rank_categories(categories: Mapping[str, CategoryAnalysis]) -> list[CategoryRank]:
    """Categories by descending best separability; unscored ones last, ties by category id."""
    ranks = []
    for category, part in categories.items():
        best = part.best_clustering
        ranks.append(CategoryRank(category, *(best[::-1] if best else (None, None))))
    return sorted(ranks, key=lambda r: (r.score is None, -(r.score or 0.0), r.category))


def ranking_lines(ranks: list[CategoryRank], names: Mapping[str, str]) -> list[str]:
    """One printable line per category: rank, id (name), score and best clustering."""
    lines = []
    for number, rank in enumerate(ranks, 1):
        label = f"{rank.category} ({names.get(rank.category, rank.category)})"
        if rank.score is None:
            lines.append(f"{number:3d}. {label}: no clustering with two clusters to score")
        else:
            lines.append(f"{number:3d}. {label}: separability {rank.score:.3g} ({rank.clustering})")
    return lines
