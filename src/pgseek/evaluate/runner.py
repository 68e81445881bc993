"""Run an ``EvalDataset`` through pgseek's own search and score it: nDCG, MRR, recall and latency per mode."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgseek.errors import InputError, QueryError
from pgseek.evaluate.datasets import EvalDataset
from pgseek.evaluate.metrics import dedupe_documents, mean, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from pgseek.evaluate.protocols import Retriever
from pgseek.ingest.pipeline import IngestProgress
from pgseek.search.engine import MAX_K, MODES, SearchOptions
from pgseek.types import IngestReport

__all__ = ["RECALL_DEPTH", "EvalProgress", "EvalReport", "ModeScores", "QueryScores", "evaluate"]

RECALL_DEPTH = 100
"""Every query asks for max(k, 100) hits, so that Recall@100 can be computed from the same search."""
UNCACHED = SearchOptions(cache=False)
"""Evaluations time and score the search itself: no cache answers for it, and none is filled."""


@dataclass(frozen=True, slots=True)
class EvalProgress:
    """Where an evaluation stands: ``stage`` is "ingest" or the mode being run; ``total`` is None while unknown."""

    stage: str
    done: int
    total: int | None
    ingest: IngestProgress | None = None
    """The ingest's own progress, during the "ingest" stage."""


EvalProgressCallback = Callable[[EvalProgress], None]


@dataclass(frozen=True, slots=True)
class QueryScores:
    """One query's scores in one mode; ``failed`` when the search refused the query (it then scores 0)."""

    query_id: str
    ndcg_at_k: float
    mrr_at_k: float
    recall_at_k: float
    recall_at_100: float
    latency_ms: float | None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class ModeScores:
    """Averages over the dataset's queries for one search mode; metrics at cutoff ``k``, plus Recall@100.

    Latencies are each search's ``timings_ms.total`` (embedding the query included) at depth max(k, 100).
    ``failed`` counts queries the search refused (e.g. longer than the model reads): they score 0 and have no latency.
    """

    mode: str
    queries: int
    k: int
    ndcg_at_k: float
    mrr_at_k: float
    recall_at_k: float
    recall_at_100: float
    latency_p50_ms: float
    latency_p99_ms: float
    failed: int = 0
    per_query: tuple[QueryScores, ...] = ()

    def to_json(self, *, per_query: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "queries": self.queries,
            "failed": self.failed,
            f"ndcg@{self.k}": self.ndcg_at_k,
            f"mrr@{self.k}": self.mrr_at_k,
            f"recall@{self.k}": self.recall_at_k,
            f"recall@{RECALL_DEPTH}": self.recall_at_100,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
        }
        if per_query:
            out["per_query"] = [dataclasses.asdict(q) for q in self.per_query]
        return out


@dataclass(frozen=True, slots=True)
class EvalReport:
    """One evaluation: the dataset's name, where it was searched, one row per mode, and the ingest if one ran."""

    dataset: str
    collection: str
    k: int
    rows: tuple[ModeScores, ...]
    ingest: IngestReport | None
    seconds: float
    tenant: str | None = None

    def row(self, mode: str) -> ModeScores:
        for r in self.rows:
            if r.mode == mode:
                return r
        raise KeyError(mode)

    def to_json(self, *, per_query: bool = False) -> dict[str, Any]:
        """A plain dict (JSON-serialisable); ``per_query`` adds each query's scores under every mode."""
        return {
            "dataset": self.dataset,
            "collection": self.collection,
            "tenant": self.tenant,
            "k": self.k,
            "seconds": self.seconds,
            "modes": [r.to_json(per_query=per_query) for r in self.rows],
            "ingest": None if self.ingest is None else dataclasses.asdict(self.ingest),
        }


async def evaluate(
    seek: Retriever,
    dataset: EvalDataset,
    *,
    modes: Sequence[str] = ("vector", "keyword", "hybrid"),
    k: int = 10,
    collection: str | None = None,
    tenant: str | None = None,
    progress: EvalProgressCallback | None = None,
) -> EvalReport:
    """Ingest the dataset's corpus (when it has one), run every query in every mode, and score the rankings.

    Collection: ``collection``, else ``eval-<dataset name>`` for a dataset with a corpus, else the settings' default
    collection (a golden set is judged against documents already ingested). Ingestion is pgseek's own, so it is
    idempotent: a second run re-embeds nothing. Queries run one at a time (honest latencies), each asking for
    max(k, 100) hits; chunk hits are deduplicated to documents at their best rank before scoring.
    """
    _check(modes, k, dataset)
    started = time.perf_counter()
    target = collection or (f"eval-{dataset.name}" if dataset.corpus_path is not None else seek.settings.collection)
    ingest: IngestReport | None = None
    if dataset.corpus_path is not None:
        ingest = await seek.ingest(
            [dataset.corpus_path], collection=target, tenant=tenant, progress=_ingest_progress(progress)
        )
    rows = []
    for mode in modes:
        rows.append(await _run_mode(seek, dataset, mode, k, target, tenant, progress))
    return EvalReport(
        dataset=dataset.name,
        collection=target,
        k=k,
        rows=tuple(rows),
        ingest=ingest,
        seconds=time.perf_counter() - started,
        tenant=tenant or seek.settings.tenant,
    )


def _check(modes: Sequence[str], k: int, dataset: EvalDataset) -> None:
    if isinstance(modes, str):
        raise InputError(f"modes must be a list of modes, not the string {modes!r}", field="modes")
    if not modes:
        raise InputError(f"give at least one mode: {', '.join(MODES)}", field="modes")
    for mode in modes:
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}", field="modes")
    if len(set(modes)) != len(modes):
        raise InputError("a mode is listed twice", field="modes")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, got {k}", field="k")
    if not dataset.queries:
        raise InputError(f"dataset {dataset.name!r} has no queries", field="dataset")


def _ingest_progress(progress: EvalProgressCallback | None) -> Callable[[IngestProgress], None] | None:
    if progress is None:
        return None

    def forward(p: IngestProgress) -> None:
        progress(EvalProgress("ingest", p.documents_done, max(p.documents_seen, p.documents_done), p))

    return forward


async def _run_mode(
    seek: Retriever,
    dataset: EvalDataset,
    mode: str,
    k: int,
    collection: str,
    tenant: str | None,
    progress: EvalProgressCallback | None,
) -> ModeScores:
    depth = max(k, RECALL_DEPTH)
    total = len(dataset.queries)
    scores: list[QueryScores] = []
    for done, (qid, text) in enumerate(dataset.queries.items(), start=1):
        qrels = dataset.qrels[qid]
        try:
            result = await seek.search(text, UNCACHED, k=depth, mode=mode, collection=collection, tenant=tenant)
        except QueryError:
            scores.append(QueryScores(qid, 0.0, 0.0, 0.0, 0.0, None, failed=True))
        else:
            ranked = dedupe_documents(h.document_id for h in result.hits)
            scores.append(
                QueryScores(
                    qid,
                    ndcg_at_k(ranked, qrels, k),
                    mrr_at_k(ranked, qrels, k),
                    recall_at_k(ranked, qrels, k),
                    recall_at_k(ranked, qrels, RECALL_DEPTH),
                    result.timings_ms.total,
                )
            )
        if progress is not None:
            progress(EvalProgress(mode, done, total))
    latencies = [s.latency_ms for s in scores if s.latency_ms is not None]
    return ModeScores(
        mode=mode,
        queries=total,
        k=k,
        ndcg_at_k=mean(s.ndcg_at_k for s in scores),
        mrr_at_k=mean(s.mrr_at_k for s in scores),
        recall_at_k=mean(s.recall_at_k for s in scores),
        recall_at_100=mean(s.recall_at_100 for s in scores),
        latency_p50_ms=percentile(latencies, 50) if latencies else 0.0,
        latency_p99_ms=percentile(latencies, 99) if latencies else 0.0,
        failed=sum(s.failed for s in scores),
        per_query=tuple(scores),
    )
