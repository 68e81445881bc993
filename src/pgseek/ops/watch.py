"""Recall you can watch: ``pgseek serve`` keeps a small random sample of its live vector searches and, in the
background, re-runs each exactly (index scans off) under the same tenant's scope; recall@k per collection over the
last ``WINDOW`` sampled searches goes to ``/metrics`` and to the ``live_recall`` table, where the doctor reads it.

Only what can be re-asked exactly is sampled: vector searches without a filter or a score threshold that went
through an index (an exact plan's recall is 1 by construction). The sample keeps the query vector and the hit ids
in memory only, never the query's text.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pgseek.db import catalog, health
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import enter_tenant
from pgseek.db.search import VectorTuning, vector_search
from pgseek.errors import NotFoundError, PgseekError
from pgseek.types import SearchResult

log = logging.getLogger("pgseek.recall")
WINDOW = 200
"""Sampled searches per collection the figure is over."""
PENDING = 100
"""Samples waiting for their exact re-run at most; more are dropped (the sample is random anyway)."""


@dataclass(frozen=True, slots=True)
class Sample:
    tenant: str
    collection: str
    model: tuple[str, str, str, int, str]
    """The model key of the query vector: a sample whose collection has since switched versions is dropped."""
    vector: NDArray[np.float32]
    found: frozenset[int]
    k: int


@dataclass(frozen=True, slots=True)
class Recall:
    """Recall@k of one collection's sampled live searches."""

    collection: str
    k: int
    queries: int
    recall: float


class RecallWatch:
    def __init__(self, rate: float, *, seed: int | None = None) -> None:
        self._rate = rate
        self._random = random.Random(seed)
        self._pending: deque[Sample] = deque(maxlen=PENDING)
        self._recalls: dict[str, deque[float]] = {}
        self._k: dict[str, int] = {}

    def offer(self, tenant: str, collection: str, k: int, result: SearchResult, *, exact_question: bool) -> None:
        """Keep a search, by chance, for an exact re-run. ``exact_question``: no filter and no score threshold."""
        vector = result.query_vector
        if not exact_question or vector is None or result.plan in (None, "exact"):
            return
        if self._random.random() >= self._rate:
            return
        found = frozenset(h.chunk_id for h in result.hits)
        self._pending.append(Sample(tenant, collection, vector.model, vector.vector, found, k))

    def figures(self) -> list[Recall]:
        return [
            Recall(name, self._k[name], len(values), sum(values) / len(values))
            for name, values in sorted(self._recalls.items())
            if values
        ]

    async def check(self, pool: Pool, max_scan_tuples: int) -> int:
        """Re-run the pending samples exactly, each in a transaction of its own; record each collection's figure.
        Returns how many were checked."""
        exact = VectorTuning(ef_search=40, max_scan_tuples=max_scan_tuples, exact_below=2**62)
        checked: set[str] = set()
        async with translate_errors("re-running sampled searches exactly"), pool.connection() as conn:
            while self._pending:
                sample = self._pending.popleft()
                # Every step a transaction of its own: the search's SET LOCAL role and tenant must end with it.
                try:
                    async with conn.transaction():
                        found = await catalog.get_collection(conn, sample.collection)
                except NotFoundError:
                    continue
                if found.table is None or found.model is None or found.model.key != sample.model:
                    continue
                async with conn.transaction():
                    scope = await enter_tenant(conn, sample.tenant)
                    rows, _ = await vector_search(scope, found.table, found, sample.vector, k=sample.k, tuning=exact)
                truth = {r.chunk_id for r in rows}
                recall = len(truth & sample.found) / len(truth) if truth else 1.0
                self._recalls.setdefault(sample.collection, deque(maxlen=WINDOW)).append(recall)
                self._k[sample.collection] = sample.k
                checked.add(sample.collection)
                async with conn.transaction():
                    values = self._recalls[sample.collection]
                    mean = sum(values) / len(values)
                    await health.record_live_recall(conn, found.id, sample.k, len(values), mean)
        return len(checked)

    async def run(self, pool: Pool, max_scan_tuples: int, interval: float) -> None:
        """Check every ``interval`` seconds until cancelled; a database outage skips a round, it does not end."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check(pool, max_scan_tuples)
            except PgseekError as exc:
                log.warning("recall watch: round skipped", extra={"fields": {"problem": str(exc)}})
