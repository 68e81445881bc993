"""Progress of an ingest run as the model works, and a cancelled run keeping what it committed (real database,
real model)."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from pathlib import Path

import psycopg
import pytest

from pgseek.config import Settings
from pgseek.errors import IngestInterruptedError
from pgseek.ingest.pipeline import IngestProgress
from pgseek.seek import AsyncSeek, Seek
from pgseek.types import Document
from tests.conftest import CountingEmbedder
from tests.outage import corpus

BATCH = 8


@pytest.fixture(scope="module")
def small_batches(database_url: str, pgseek_home: Path) -> Settings:
    return Settings(home=pgseek_home, database_url=database_url, embed_batch_size=BATCH)


def _documents(count: int, seed: int) -> list[Document]:
    return [
        Document(d["id"], d["text"], title=d["title"], source=f"/docs/{d['id']}.txt") for d in corpus(count, seed=seed)
    ]


def test_progress_moves_with_each_model_batch(small_batches: Settings, embedder: CountingEmbedder) -> None:
    events: list[IngestProgress] = []
    docs = _documents(60, seed=11)  # one group: written once, after all of its model batches
    with Seek(small_batches, embedder=embedder) as seek:
        report = seek.ingest_documents(docs, collection="progress", progress=events.append)

    assert report.documents_added == 60
    for name in ("documents_seen", "documents_done", "chunks_embedded", "chunks_known", "chunks_written", "seconds"):
        values = [getattr(e, name) for e in events]
        assert values == sorted(values), name
    last = events[-1]
    assert last.chunks_embedded == last.chunks_known == last.chunks_written == report.chunks_embedded
    assert last.documents_done == last.documents_seen == 60
    # The bar moves while the model works, before the group is written: one event per model batch at least.
    during = [e for e in events if e.chunks_written == 0 and e.chunks_embedded > 0]
    assert len({e.chunks_embedded for e in during}) >= report.chunks_embedded // BATCH
    assert all(e.chunks_known >= e.chunks_embedded for e in events)  # a total for a time remaining
    assert last.seconds > 0
    assert last.current is not None and last.current.startswith("/docs/doc-")
    assert {f.name for f in fields(IngestProgress)} >= {"documents_seen", "documents_done", "documents_failed"}


def _stored(url: str, collection: str) -> tuple[set[str], int]:
    """External ids stored in the collection, and how many of its documents lack a chunk or a chunk its vector."""
    with psycopg.connect(url, autocommit=True) as conn:
        active = (
            "SELECT v.table_name FROM embedding_versions v JOIN collections c ON c.id = v.collection_id "
            "WHERE v.state = 'active' AND c.name = %s"
        )
        (table,) = conn.execute(active, (collection,)).fetchone() or ("",)
        ids = {
            str(r[0])
            for r in conn.execute(
                "SELECT d.external_id FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = %s",
                (collection,),
            )
        }
        row = conn.execute(
            "SELECT count(*) FROM documents d WHERE d.collection_id = (SELECT id FROM collections WHERE name = %s)"
            " AND (NOT EXISTS (SELECT FROM chunks c WHERE c.document_id = d.id)"
            " OR EXISTS (SELECT FROM chunks c WHERE c.document_id = d.id AND NOT EXISTS"
            f" (SELECT FROM {table} e WHERE e.chunk_id = c.id)))",
            (collection,),
        ).fetchone()
    return ids, int(row[0]) if row else -1


@pytest.mark.slow  # 2,000 documents: ingested again in full after the cancellation
def test_a_cancelled_ingest_keeps_the_groups_written_and_says_so(
    small_batches: Settings, embedder: CountingEmbedder, database_url: str
) -> None:
    docs = _documents(2000, seed=12)

    async def run() -> IngestInterruptedError:
        async with AsyncSeek(small_batches, embedder=embedder) as seek:
            written = asyncio.Event()

            def on_progress(p: IngestProgress) -> None:
                if p.chunks_written > 0:
                    written.set()

            task = asyncio.create_task(seek.ingest_documents(docs, collection="cancelled", progress=on_progress))
            await asyncio.wait([task, asyncio.create_task(written.wait())], return_when=asyncio.FIRST_COMPLETED)
            assert not task.done(), "the run ended before it could be cancelled: give it more documents"
            task.cancel()
            with pytest.raises(IngestInterruptedError) as caught:
                await task
            return caught.value

    interrupted = asyncio.run(run())
    ids, incomplete = _stored(database_url, "cancelled")
    assert 0 < interrupted.kept < len(docs)
    assert len(ids) == interrupted.kept == interrupted.report.documents_added
    assert incomplete == 0
    assert interrupted.not_started == interrupted.report.documents_seen - interrupted.kept
    assert str(interrupted) == f"interrupted: {interrupted.kept} documents kept, {interrupted.not_started} not started"

    # Nothing is left claimed: the same documents again finish the job, skipping those kept.
    with Seek(small_batches, embedder=embedder) as seek:
        report = seek.ingest_documents(docs, collection="cancelled")
    assert report.documents_unchanged == interrupted.kept
    assert report.documents_added == len(docs) - interrupted.kept
