"""Reciprocal Rank Fusion: merge ranked lists by rank alone, so that scores on different scales need no calibration.

    fused(d) = sum over lists L containing d of  weight_L / (k + rank_L(d))      (ranks start at 1)

Cormack, Clarke and Buettcher (2009) found k = 60 robust; pgvector-python's examples/hybrid_search/rrf.py uses the same.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pgseek.types import LegRank

K = TypeVar("K", bound=Hashable)
DEFAULT_K = 60


@dataclass(frozen=True, slots=True)
class Fused(Generic[K]):
    key: K
    score: float
    legs: Mapping[str, LegRank]
    """Per input list (by name), the item's rank and original score; lists that missed it are absent."""


def reciprocal_rank_fusion(
    lists: Mapping[str, Sequence[tuple[K, float]]],
    *,
    k: int = DEFAULT_K,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Fused[K]]:
    """Fuse named ranked lists of (key, score), best first. Ties in fused score keep first-seen order.

    A key repeated within one list counts at its best rank only.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    weights = weights or {}
    unknown = set(weights) - set(lists)
    if unknown:
        raise ValueError(f"weights name lists that were not given: {sorted(unknown)}")
    scores: dict[K, float] = {}
    legs: dict[K, dict[str, LegRank]] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for rank, (key, score) in enumerate(ranked, start=1):
            seen = legs.setdefault(key, {})
            if name in seen:
                continue
            seen[name] = LegRank(rank, score)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    order = sorted(scores, key=lambda key: -scores[key])  # stable: first-seen order breaks ties
    fused = [Fused(key, scores[key], legs[key]) for key in order]
    return fused if limit is None else fused[:limit]
