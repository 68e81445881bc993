"""The ANN recall probe: how much of the exact top k the HNSW index finds, and how fast, per ``hnsw.ef_search``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pgseek.db import catalog
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import enter_tenant
from pgseek.db.search import VectorTuning, vector_search
from pgseek.errors import InputError, NotFoundError
from pgseek.evaluate.metrics import percentile
from pgseek.providers.protocols import Embedder

__all__ = ["DEFAULT_EF_VALUES", "AnnProbe", "AnnRow", "ann_recall"]

DEFAULT_EF_VALUES: tuple[int, ...] = (10, 20, 40, 80, 160, 320)
_EXACT = VectorTuning(ef_search=40, max_scan_tuples=20000, exact_below=10**9)


@dataclass(frozen=True, slots=True)
class AnnRow:
    """One ef_search setting: mean recall@k of the index against exact search, and the index search's latency."""

    ef_search: int
    recall_at_k: float
    latency_p50_ms: float
    latency_p99_ms: float


@dataclass(frozen=True, slots=True)
class AnnProbe:
    """Per ef_search setting, recall against exact search; ``exact_latency_p50_ms`` is exact search's own latency.

    ``recall_at_k`` is recall at the probe's ``k`` (10 by default). Latencies are the database search alone (the
    query embeddings are computed once, before timing).
    """

    rows: tuple[AnnRow, ...]
    queries: int
    exact_latency_p50_ms: float
    k: int = 10
    collection: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "queries": self.queries,
            "k": self.k,
            "exact_latency_p50_ms": self.exact_latency_p50_ms,
            "rows": [
                {
                    "ef_search": r.ef_search,
                    f"recall@{self.k}": r.recall_at_k,
                    "latency_p50_ms": r.latency_p50_ms,
                    "latency_p99_ms": r.latency_p99_ms,
                }
                for r in self.rows
            ],
        }


async def ann_recall(
    pool: Pool,
    embedder: Embedder,
    queries: Sequence[str],
    *,
    collection: str,
    tenant: str,
    k: int = 10,
    ef_values: Sequence[int] = DEFAULT_EF_VALUES,
    max_scan_tuples: int = 20000,
) -> AnnProbe:
    """Compare the HNSW index's top k with the exact top k (chunk ids), query by query, for each ef_search.

    Exact: a sequential scan with index scans disabled. Index: the engine's index plan forced (``exact_below=0``),
    with ``hnsw.ef_search = max(ef, k)`` (pgvector returns at most ef_search rows, so ef below k runs at k). Recall per
    query is |index ∩ exact| / |exact|, averaged over queries. On a very small collection PostgreSQL may prefer a
    sequential scan even then, and recall is 1.0: probe a collection of realistic size.
    """
    texts = [q for q in queries if q and q.strip()]
    if not texts:
        raise InputError("give at least one non-empty query to probe with", field="queries")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}", field="k")
    if not ef_values or any(ef < 1 for ef in ef_values):
        raise InputError("ef_values must be positive integers", field="ef_values")
    vectors = await asyncio.to_thread(embedder.embed, texts, purpose="query")
    async with translate_errors("probing the vector index"), pool.connection() as conn:
        # A transaction of its own: left open, it would turn each probe's transaction below into a savepoint, and
        # the exact scan's SET LOCAL (enable_indexscan off) would outlive it into the index probes.
        async with conn.transaction():
            found = await catalog.get_collection(conn, collection)
        table = found.table
        if table is None:
            raise NotFoundError(f"collection {collection!r} has no vectors yet; ingest into it first")

        async def run(vector: Any, tuning: VectorTuning) -> tuple[set[int], float]:
            started = time.perf_counter()
            async with conn.transaction():  # one query, one transaction: its SET LOCAL tuning ends with it
                scope = await enter_tenant(conn, tenant)
                rows, _ = await vector_search(scope, table, found, vector, k=k, tuning=tuning)
            return {r.chunk_id for r in rows}, (time.perf_counter() - started) * 1000

        exact: list[set[int]] = []
        exact_ms: list[float] = []
        for vector in vectors:
            ids, ms = await run(vector, _EXACT)
            exact.append(ids)
            exact_ms.append(ms)
        rows: list[AnnRow] = []
        for ef in ef_values:
            tuning = VectorTuning(ef_search=ef, max_scan_tuples=max_scan_tuples, exact_below=0)
            recalls: list[float] = []
            latencies: list[float] = []
            for vector, truth in zip(vectors, exact, strict=True):
                ids, ms = await run(vector, tuning)
                recalls.append(len(ids & truth) / len(truth) if truth else 1.0)
                latencies.append(ms)
            rows.append(AnnRow(ef, sum(recalls) / len(recalls), percentile(latencies, 50), percentile(latencies, 99)))
    return AnnProbe(tuple(rows), len(texts), percentile(exact_ms, 50), k=k, collection=collection)
