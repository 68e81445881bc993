"""Keyword, hybrid and vector latency through ``Seek.search``, with the keyword leg bounded (pgseek's) and as the
full scan it replaced (decision 0024), interleaved on one corpus; and whether the two legs return the same top k.

The full scan is put back by swapping the keyword leg the engine calls for ``db.search.full_keyword_search`` for the
duration of one search: the same process, data, caches and moment as the bounded leg it is compared with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import common

MODES = ("vector", "keyword", "keyword, full scan", "hybrid", "hybrid, full scan")
WARMUP_QUERIES = 3
LEG = "keyword_search"
"""The name under which search/engine.py calls the keyword leg."""


@contextlib.contextmanager
def full_scan_leg(full: bool) -> Iterator[None]:
    """While open (``full``), the engine's keyword leg is the full scan of before this change."""
    from pgseek.db import search as db_search
    from pgseek.search import engine

    if not full:
        yield
        return
    bounded = getattr(engine, LEG)

    async def full_scan(scope: Any, collection: Any, text: str, *, k: int, where: Any = db_search.NO_FILTER) -> Any:
        return await db_search.full_keyword_search(scope, collection, text, k=k, where=where)

    setattr(engine, LEG, full_scan)
    try:
        yield
    finally:
        setattr(engine, LEG, bounded)


@dataclass
class Latency:
    """Per mode: milliseconds (total and database) per query; per leg pair: queries whose top k are the same."""

    total: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    search: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    same: dict[str, int] = field(default_factory=lambda: {"keyword": 0, "hybrid": 0})
    queries: int = 0


def _search(seek: Any, mode: str, text: str, k: int, collection: str, tenant: str) -> Any:
    with full_scan_leg(mode.endswith("full scan")):
        return seek.search(text, k=k, mode=mode.split(",")[0], collection=collection, tenant=tenant)


def measure(seek: Any, collection: str, tenant: str, queries: Sequence[str], k: int) -> Latency:
    """Every query in every mode, the order of modes rotated from one query to the next."""
    out = Latency()
    for text in queries[:WARMUP_QUERIES]:
        for mode in MODES:
            _search(seek, mode, text, k, collection, tenant)
    for n, text in enumerate(queries):
        hits: dict[str, list[int]] = {}
        for mode in MODES[n % len(MODES) :] + MODES[: n % len(MODES)]:
            result = _search(seek, mode, text, k, collection, tenant)
            out.total[mode].append(result.timings_ms.total)
            out.search[mode].append(result.timings_ms.search)
            hits[mode] = [h.chunk_id for h in result.hits]
        for leg in out.same:
            out.same[leg] += hits[leg] == hits[f"{leg}, full scan"]
        out.queries += 1
    return out


def table(corpus: str, latency: Latency) -> list[dict[str, Any]]:
    """One row per mode: p50/p99 of total and database time, the ratio of p50 to vector's, and top-k identity."""
    vector_p50 = common.percentile(latency.total["vector"], 50)
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        leg = mode.split(",")[0]
        p50 = common.percentile(latency.total[mode], 50)
        same = latency.same.get(leg) if mode in latency.same else None
        rows.append(
            {
                "corpus": corpus,
                "mode": mode,
                "queries": latency.queries,
                "total p50 ms": p50,
                "total p99 ms": common.percentile(latency.total[mode], 99),
                "search p50 ms": common.percentile(latency.search[mode], 50),
                "search p99 ms": common.percentile(latency.search[mode], 99),
                "p50 / vector p50": p50 / vector_p50,
                "top k = full scan's": "" if same is None else f"{same / latency.queries:.1%}",
            }
        )
    return rows
