"""Recall you can watch: the service samples its live vector searches, re-runs them exactly in the background, and
exports recall@k per collection in /metrics; the doctor reads the same figure from the database."""

from __future__ import annotations

import asyncio
from typing import Any

from pgseek.api.observability import Metrics
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from pgseek.types import Document
from tests.conftest import NearbyVectors


async def test_sampled_searches_are_re_run_exactly_and_reported(settings: Settings, local_embedder: Any) -> None:
    # Every search sampled, rounds every 0.1 s; a bound of 0 sends every search through the HNSW index.
    watched = settings.model_copy(
        update={"exact_search_below": 0, "recall_watch_rate": 1.0, "recall_watch_interval": 0.1}
    )
    async with AsyncSeek(watched, embedder=NearbyVectors(local_embedder)) as seek:
        docs = [Document(f"n{i}", f"Harbour note {i}: tides and ropes.") for i in range(50)]
        await seek.ingest_documents(docs, collection="watched", tenant="acme")
        watching = asyncio.create_task(seek.watch_recall())
        try:
            await asyncio.sleep(0.05)  # the watch is in place before the searches
            for text in ("tides", "ropes", "harbour"):
                result = await seek.search(text, collection="watched", tenant="acme", k=5)
                assert result.plan == "iterative"
            await seek.search("tides", collection="watched", tenant="acme", k=5, min_score=0.1)  # not re-askable
            for _ in range(100):
                if seek.live_recall() and seek.live_recall()[0].queries == 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            watching.cancel()
        [live] = seek.live_recall()
        assert live.collection == "watched" and live.k == 5 and live.queries == 3 and 0 <= live.recall <= 1

        metrics = Metrics()
        await metrics.refresh(seek)
        exported = metrics.render().decode()
        assert f'pgseek_live_recall{{collection="watched",k="5"}} {live.recall}' in exported
        assert 'pgseek_live_recall_queries{collection="watched"} 3.0' in exported

        report = await seek.doctor("watched", recall=False)
        [finding] = [f for f in report.findings if f.check == "live_recall"]
        assert finding.figures["queries"] == 3 and "sampled live searches" in finding.message
