"""Hybrid search under a concurrent writer: both legs read one snapshot, so a document being replaced is never
returned twice (its old chunk from one leg, its new chunk from the other)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pgseek import Document
from pgseek.search.engine import SearchOptions
from pgseek.seek import AsyncSeek

DOCUMENTS = 6
SEARCHES = 150
UNCACHED = SearchOptions(cache=False)


def _revision(r: int) -> list[Document]:
    return [
        Document(f"log-{i}", f"The lighthouse keeper logs the tide at cove {i}, revision {r}: storms, ships and gulls.")
        for i in range(DOCUMENTS)
    ]


async def test_hybrid_search_never_sees_a_document_twice_while_it_is_replaced(
    settings: Any, local_embedder: Any
) -> None:
    async with AsyncSeek(settings, embedder=local_embedder) as seek:
        await seek.ingest_documents(_revision(0), collection="live")
        stop = asyncio.Event()
        revisions = 0

        async def writer() -> None:
            nonlocal revisions
            while not stop.is_set():
                revisions += 1
                report = await seek.ingest_documents(_revision(revisions), collection="live")
                assert report.documents_updated == DOCUMENTS, report

        writing = asyncio.create_task(writer())
        doubled, missing = [], 0
        try:
            for _ in range(SEARCHES):
                # Uncached: every search runs both legs (a cached result would not be read under the writer at all).
                result = await seek.search(
                    "lighthouse keeper tide log", UNCACHED, mode="hybrid", k=10, collection="live"
                )
                counts = Counter(h.document_id for h in result.hits)
                if max(counts.values()) > 1:
                    doubled.append(sorted(h.chunk[-30:] for h in result.hits))
                missing += len(counts) < DOCUMENTS  # a doubled document can push another out of the top k
        finally:
            stop.set()
            await writing
    assert revisions >= 10  # the writer really ran alongside the searches
    assert doubled == [], f"{len(doubled)} of {SEARCHES} searches returned a document twice: {doubled[:3]}"
    assert missing == 0
