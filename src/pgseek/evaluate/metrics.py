"""Retrieval metrics, pure: ranked document ids and graded judgments in, a number out.

Conventions (those of trec_eval / pytrec_eval, which BEIR reports with):

- ``ranked_ids`` is a ranking of *document* ids, best first. Search returns chunks, and several chunks of one
  document may rank; ``dedupe_documents`` keeps each document once, at its best (first) rank. Every metric here
  dedupes its input the same way, so a document is never counted twice.
- Ties: the order of ``ranked_ids`` is the tie-break. Hits with equal scores keep the order the search returned.
- ``qrels`` maps a document id to a grade: 0 (or less) is judged not relevant, 1, 2, ... increasingly relevant.
  Documents absent from ``qrels`` are not relevant.
- nDCG uses *linear* gain, as trec_eval's ``ndcg_cut`` and BEIR do: ``DCG@k = sum_{i=1..k} grade_i / log2(i + 1)``,
  normalised by the DCG of the ideal ranking (all judged documents sorted by grade). Not the ``2^grade - 1`` variant;
  with binary judgments the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["dedupe_documents", "mean", "mrr_at_k", "ndcg_at_k", "percentile", "recall_at_k"]


def dedupe_documents(hit_doc_ids: Iterable[str]) -> list[str]:
    """Document ids in rank order, each once, at its first (best) rank."""
    return list(dict.fromkeys(hit_doc_ids))


def _top(ranked_ids: Sequence[str], k: int) -> list[str]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return dedupe_documents(ranked_ids)[:k]


def ndcg_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain at k, linear gain; 0.0 when no judged document is relevant."""
    top = _top(ranked_ids, k)
    dcg = sum(max(qrels.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(top, start=1))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant (grade > 0) document in the top k; 0.0 when there is none."""
    for rank, doc in enumerate(_top(ranked_ids, k), start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant (grade > 0) documents found in the top k; 0.0 when no document is relevant."""
    relevant = {doc for doc, grade in qrels.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top(ranked_ids, k))) / len(relevant)


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0..100), interpolating linearly between the closest ranks (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"p must be between 0 and 100, got {p}")
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 of no values."""
    items = list(values)
    return math.fsum(items) / len(items) if items else 0.0
