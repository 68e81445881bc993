"""Fusion of the vector and keyword legs into one ranking: by rank (RRF, the default) or by normalized scores.

Reciprocal Rank Fusion merges ranked lists by rank alone, so that scores on different scales need no calibration::

    fused(d) = sum over lists L containing d of  weight_L / (k + rank_L(d))      (ranks start at 1)

Cormack, Clarke and Buettcher (2009) found k = 60 robust; pgvector-python's examples/hybrid_search/rrf.py uses the
same. A normalized linear combination instead puts each list's scores on one scale, then adds them weighted::

    fused(d) = sum over lists L containing d of  weight_L * norm_L(score_L(d))

``minmax`` maps a list's scores onto [0, 1] (its best 1, its worst 0), ``zscore`` onto standard deviations from the
list's mean, shifted so that the list's worst is 0; a list that misses d adds nothing, as if d scored its worst. Both
read their statistics from a list's first ``NORMALIZE_DEPTH`` scores, and what ranks below those adds nothing either:
a leg fetched 400 deep (``pgseek eval`` asks for 100 hits) then fuses its top exactly as a leg fetched 40 deep (a
search for 10), so the setting tuned on one serves the other.
Which of them, and with which k and weights, is a collection's setting that ``pgseek tune`` fits on judged queries
(decision 0020): ``Fusion``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

from pgseek.types import LegRank

K = TypeVar("K", bound=Hashable)
DEFAULT_K = 60
Method = Literal["rrf", "minmax", "zscore"]
METHODS: tuple[str, ...] = get_args(Method)
MAX_RRF_K = 10_000
NORMALIZE_DEPTH = 40
"""The scores a normalized fusion reads from each list: as deep as a hybrid search for 10 hits (or an ``ask``) goes."""


@dataclass(frozen=True, slots=True)
class Fused(Generic[K]):
    key: K
    score: float
    legs: Mapping[str, LegRank]
    """Per input list (by name), the item's rank and original score; lists that missed it are absent."""


class FusionError(ValueError):
    """A fusion setting that cannot be used; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid search fuses its legs. The default is RRF with k = 60 and equal weights."""

    method: Method = "rrf"
    rrf_k: int = DEFAULT_K
    """RRF's k (unused by the score methods)."""
    vector_weight: float = 1.0
    keyword_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise FusionError("fusion", f"unknown fusion {self.method!r}: use one of {', '.join(METHODS)}")
        if isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, int) or not 0 <= self.rrf_k <= MAX_RRF_K:
            raise FusionError("rrf_k", f"rrf_k must be an integer between 0 and {MAX_RRF_K}, got {self.rrf_k!r}")
        for name, weight in (("vector_weight", self.vector_weight), ("keyword_weight", self.keyword_weight)):
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
                raise FusionError(name, f"{name} must be a finite number, got {weight!r}")
            if weight < 0:
                raise FusionError(name, f"{name} must not be negative, got {weight}")
        if self.vector_weight == 0 and self.keyword_weight == 0:
            raise FusionError("vector_weight", "vector_weight and keyword_weight cannot both be 0: give a leg weight")

    def weights(self) -> dict[str, float]:
        return {"vector": float(self.vector_weight), "keyword": float(self.keyword_weight)}

    def fuse(self, lists: Mapping[str, Sequence[tuple[K, float]]], *, limit: int | None = None) -> list[Fused[K]]:
        """The named lists (a subset of "vector" and "keyword"), fused with this setting, best first."""
        weights = {name: w for name, w in self.weights().items() if name in lists}
        if self.method == "rrf":
            return reciprocal_rank_fusion(lists, k=self.rrf_k, weights=weights, limit=limit)
        return score_fusion(lists, _NORMALIZERS[self.method], weights=weights, limit=limit)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rrf_k": self.rrf_k,
            "vector_weight": self.vector_weight,
            "keyword_weight": self.keyword_weight,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Fusion:
        """A stored setting (``to_json``'s keys; others, such as how it was tuned, are ignored). ValueError when it
        is not one."""
        return cls(
            method=value.get("method", "rrf"),
            rrf_k=value.get("rrf_k", DEFAULT_K),
            vector_weight=value.get("vector_weight", 1.0),
            keyword_weight=value.get("keyword_weight", 1.0),
        )

    def describe(self) -> str:
        """One line: "rrf k=20, vector 0.6 / keyword 0.4"."""
        how = f"rrf k={self.rrf_k}" if self.method == "rrf" else self.method
        return f"{how}, vector {self.vector_weight:g} / keyword {self.keyword_weight:g}"


DEFAULT_FUSION = Fusion()


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
    return _fuse(lists, weights, limit, lambda ranked: [1.0 / (k + rank) for rank in range(1, len(ranked) + 1)])


Normalizer = Callable[[Sequence[float]], list[float]]


def minmax(scores: Sequence[float]) -> list[float]:
    """Scores, best first, mapped onto [0, 1] by the first ``NORMALIZE_DEPTH``: their best 1, their worst 0, lower
    ones 0 too (all 1 when they are equal)."""
    head = scores[:NORMALIZE_DEPTH]
    low, high = min(head), max(head)
    if high == low:
        return [1.0] * len(head) + [0.0] * (len(scores) - len(head))
    return [max((s - low) / (high - low), 0.0) for s in scores]


def zscore(scores: Sequence[float]) -> list[float]:
    """Scores, best first, in standard deviations from the mean of the first ``NORMALIZE_DEPTH``, shifted so that
    their worst is 0, lower ones 0 too (all 1 when they are equal)."""
    head = scores[:NORMALIZE_DEPTH]
    mean = sum(head) / len(head)
    spread = math.sqrt(sum((s - mean) ** 2 for s in head) / len(head))
    if spread == 0:
        return [1.0] * len(head) + [0.0] * (len(scores) - len(head))
    low = min(head)
    return [max((s - low) / spread, 0.0) for s in scores]


_NORMALIZERS: dict[str, Normalizer] = {"minmax": minmax, "zscore": zscore}


def score_fusion(
    lists: Mapping[str, Sequence[tuple[K, float]]],
    normalize: Normalizer,
    *,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Fused[K]]:
    """Fuse named lists of (key, score), best first, by the weighted sum of each list's normalized scores. Ties keep
    first-seen order; a key repeated within one list counts at its first (best) place only."""

    def normalized(ranked: Sequence[tuple[K, float]]) -> list[float]:
        return normalize([score for _, score in ranked]) if ranked else []

    return _fuse(lists, weights, limit, normalized)


def _fuse(
    lists: Mapping[str, Sequence[tuple[K, float]]],
    weights: Mapping[str, float] | None,
    limit: int | None,
    contributions: Callable[[Sequence[tuple[K, float]]], list[float]],
) -> list[Fused[K]]:
    """Sum each list's weighted contribution (``contributions`` gives one per place) per key."""
    weights = weights or {}
    unknown = set(weights) - set(lists)
    if unknown:
        raise ValueError(f"weights name lists that were not given: {sorted(unknown)}")
    scores: dict[K, float] = {}
    legs: dict[K, dict[str, LegRank]] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for rank, ((key, score), part) in enumerate(zip(ranked, contributions(ranked), strict=True), start=1):
            seen = legs.setdefault(key, {})
            if name in seen:
                continue
            seen[name] = LegRank(rank, score)
            scores[key] = scores.get(key, 0.0) + weight * part
    order = sorted(scores, key=lambda key: -scores[key])  # stable: first-seen order breaks ties
    fused = [Fused(key, scores[key], legs[key]) for key in order]
    return fused if limit is None else fused[:limit]
