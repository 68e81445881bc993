"""Compare a candidate version with the active one (decision 0018): quality on a golden set or a BEIR folder whose
documents are in the collection (nDCG@10, Recall@100, latency), and agreement on the queries users searched lately
(top-10 document overlap), then a verdict. The result is stored on the candidate, where activation reads it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pgseek.db import versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.versions import Version
from pgseek.errors import ConflictError
from pgseek.evaluate.datasets import EvalDataset, load_beir, load_golden
from pgseek.evaluate.metrics import dedupe_documents, mean, ndcg_at_k, percentile, recall_at_k
from pgseek.search.engine import Mode, SearchOptions
from pgseek.types import SearchResult
from pgseek.versions.manage import DEFAULT_TOLERANCE, pick, versions_of

Search = Callable[[str, SearchOptions], Awaitable[SearchResult]]
"""Runs one search of one version (``SearchOptions.version`` set) with that version's model."""

DEPTH = 100
"""Hits fetched per query: Recall@100 needs them."""


@dataclass(frozen=True, slots=True)
class Side:
    version: int
    ndcg_at_10: float | None
    recall_at_100: float | None
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class Comparison:
    collection: str
    active: Side
    candidate: Side
    dataset: str | None
    queries: int
    """Judged queries run on both versions (0 without a dataset)."""
    recent_queries: int
    """Recent searches replayed on both versions."""
    top10_overlap: float | None
    """Mean share of the top-10 documents both versions return for the recent searches (None: none recorded)."""
    verdict: str
    better: bool | None
    """True: the candidate is at least as good within the tolerance; False: worse; None: no quality figures."""
    tolerance: float

    def as_record(self) -> dict[str, Any]:
        """What is stored on the candidate (``embedding_versions.comparison``) and printed by ``--json``."""
        record: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            "dataset": self.dataset,
            "queries": self.queries,
            "recent_queries": self.recent_queries,
            "top10_overlap": self.top10_overlap,
            "verdict": self.verdict,
            "better": self.better,
            "tolerance": self.tolerance,
            "latency_ms": {
                "active": {"p50": self.active.p50_ms, "p99": self.active.p99_ms},
                "candidate": {"p50": self.candidate.p50_ms, "p99": self.candidate.p99_ms},
            },
        }
        if self.queries:
            record["quality"] = {
                name: {"ndcg@10": side.ndcg_at_10, "recall@100": side.recall_at_100}
                for name, side in (("active", self.active), ("candidate", self.candidate))
            }
        return record


def load_dataset(path: Path | str, split: str = "test") -> EvalDataset:
    """A BEIR folder (its queries and qrels; its corpus must be in the collection) or a golden-set file."""
    found = Path(path)
    return load_beir(found, split) if found.is_dir() else load_golden(found)


async def compare(
    pool: Pool,
    collection: str,
    search: Search,
    *,
    dataset: EvalDataset | None,
    mode: Mode = "vector",
    tenant: str,
    sample: int = 50,
    tolerance: float = DEFAULT_TOLERANCE,
    candidate_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Run the comparison and store it on the candidate. ``tenant``: whose documents the dataset's judgments name
    (recent searches each run as their own tenant)."""
    async with translate_errors("reading embedding versions"):
        found = await versions_of(pool, collection)
    candidate = pick(found, collection, candidate_id, ("candidate", "active"))
    active = pick(found, collection, None, ("active",))
    if candidate.id == active.id:
        raise ConflictError(f"collection {collection!r} has no candidate version to compare with the active one")
    async with translate_errors("reading recent searches"), pool.connection() as conn:
        recent = await versions.recent_queries(conn, active.collection_id, sample)
    planned = (len(dataset.queries) if dataset else 0) + len(recent)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, planned)

    sides: dict[int, dict[str, list[float]]] = {
        v: {"ndcg": [], "recall": [], "ms": []} for v in (active.id, candidate.id)
    }
    # Untimed: the first search of a version loads its model and warms its index, which is not the version's
    # speed. Then the order alternates from one query to the next, so that neither version always goes first.
    warm = next(iter(dataset.queries.values()), None) if dataset else (recent[0][1] if recent else None)
    if warm is not None:
        for version in (active.id, candidate.id):
            await _ranked(search, warm, version, collection, tenant, mode, 10)

    def order(i: int) -> tuple[int, int]:
        return (active.id, candidate.id) if i % 2 == 0 else (candidate.id, active.id)

    if dataset is not None:
        for i, (qid, text) in enumerate(dataset.queries.items()):
            for version in order(i):
                ranked, ms = await _ranked(search, text, version, collection, tenant, mode, DEPTH)
                sides[version]["ndcg"].append(ndcg_at_k(ranked, dataset.qrels[qid], 10))
                sides[version]["recall"].append(recall_at_k(ranked, dataset.qrels[qid], DEPTH))
                sides[version]["ms"].append(ms)
            step()
    overlaps: list[float] = []
    for i, (who, text, recent_mode) in enumerate(recent):
        tops = []
        for version in order(i):
            ranked, ms = await _ranked(search, text, version, collection, who, recent_mode, 10)
            sides[version]["ms"].append(ms)
            tops.append(set(ranked[:10]))
        overlaps.append(len(tops[0] & tops[1]) / max(len(tops[0]), len(tops[1]), 1))
        step()
    result = _verdict(
        collection,
        active,
        candidate,
        sides,
        dataset=dataset,
        overlap=mean(overlaps) if overlaps else None,
        recent=len(recent),
        tolerance=tolerance,
    )
    async with translate_errors("storing a comparison"), pool.connection() as conn:
        await versions.set_comparison(conn, candidate.id, result.as_record())
    return result


async def _ranked(
    search: Search, text: str, version: int, collection: str, tenant: str, mode: str, k: int
) -> tuple[list[str], float]:
    opts = SearchOptions(k=k, collection=collection, tenant=tenant, mode=mode, version=version)  # type: ignore[arg-type]
    began = time.perf_counter()
    result = await search(text, opts)
    ms = (time.perf_counter() - began) * 1000
    return dedupe_documents(h.document_id for h in result.hits), ms


def _side(version: int, figures: dict[str, list[float]]) -> Side:
    ms = figures["ms"] or [0.0]
    return Side(
        version=version,
        ndcg_at_10=mean(figures["ndcg"]) if figures["ndcg"] else None,
        recall_at_100=mean(figures["recall"]) if figures["recall"] else None,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
    )


def _verdict(
    collection: str,
    active: Version,
    candidate: Version,
    sides: dict[int, dict[str, list[float]]],
    *,
    dataset: EvalDataset | None,
    overlap: float | None,
    recent: int,
    tolerance: float,
) -> Comparison:
    a, c = _side(active.id, sides[active.id]), _side(candidate.id, sides[candidate.id])
    agreement = (
        f"; the two agree on {overlap:.0%} of the top 10 for {recent} recent searches" if overlap is not None else ""
    )
    better: bool | None
    if a.ndcg_at_10 is None or c.ndcg_at_10 is None:
        better = None
        verdict = (
            f"no quality figures (no golden set or BEIR folder given){agreement}: activation needs --force, or "
            "compare with a dataset"
        )
    else:
        delta = c.ndcg_at_10 - a.ndcg_at_10
        figures = f"nDCG@10 {c.ndcg_at_10:.3f} against {a.ndcg_at_10:.3f} ({delta:+.3f})"
        if delta > tolerance:
            better, verdict = True, f"candidate {candidate.id} is better: {figures}{agreement}; activate it"
        elif delta >= -tolerance:
            better = True
            verdict = (
                f"candidate {candidate.id} is as good within {tolerance}: {figures}{agreement}; activate it if its "
                "cost or latency suit you better"
            )
        else:
            better, verdict = False, f"candidate {candidate.id} is worse: {figures}{agreement}; keep the active version"
    return Comparison(
        collection=collection,
        active=a,
        candidate=c,
        dataset=dataset.name if dataset else None,
        queries=len(dataset.queries) if dataset else 0,
        recent_queries=recent,
        top10_overlap=overlap,
        verdict=verdict,
        better=better,
        tolerance=tolerance,
    )
