"""Two ingest runs of the same documents at once: each document is embedded once, and the counts are honest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
from pgvector.psycopg import register_vector_async

from pgseek import Document
from pgseek.db import catalog as db_catalog
from pgseek.db import versions as db_versions
from pgseek.db import writes as db_writes
from pgseek.fingerprint import PROBES
from pgseek.ingest.pipeline import chunk_for_embedding, content_hash, embed_hash
from pgseek.seek import AsyncSeek
from tests.conftest import CountingEmbedder

FILES = 40


def _folder(root: Path) -> Path:
    folder = root / "notes"
    folder.mkdir()
    for i in range(FILES):
        (folder / f"note-{i:02}.md").write_text(f"# Note {i}\n\nThe tide at cove {i} turns at {i % 12} o'clock.\n")
    return folder


async def test_two_concurrent_ingests_of_one_folder_embed_it_once(
    settings: Any, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    async with AsyncSeek(settings, embedder=embedder) as seek:
        first, second = await asyncio.gather(
            seek.ingest([folder], collection="race"), seek.ingest([folder], collection="race")
        )
        stored = await seek.collection("race")
    # Which run writes which document depends on who claims first (under load they can take turns); what holds
    # always: each run accounts for every document, each document is added by exactly one run, none is "updated".
    for report in (first, second):
        assert (report.documents_added + report.documents_unchanged, report.documents_updated) == (FILES, 0)
    assert first.documents_added + second.documents_added == FILES
    assert stored.documents == FILES
    # Every chunk stored was embedded once: no text went through the model twice (the probe sentences of the
    # version's fingerprint are embedded once per process).
    assert embedder.texts_embedded - len(PROBES) == stored.chunks == first.chunks_embedded + second.chunks_embedded


async def test_writing_a_version_the_database_already_holds_counts_it_unchanged(
    settings: Any, embedder: CountingEmbedder, database_url: str
) -> None:
    """The last line of defence when two writers race past the claims: the second upsert of one version changes
    nothing (the chunks stay as they are) and reports the document unchanged, not updated."""
    async with AsyncSeek(settings, embedder=embedder) as seek:
        await seek.ingest_documents([Document("seed", "A seed document.")], collection="upserts")
    doc = Document("twice", "The same version of a document, written twice.")
    chunks, texts = chunk_for_embedding(doc, embedder, 200, 32)
    hashes = [embed_hash(t, embedder.info) for t in texts]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await register_vector_async(conn)
        collection = await db_catalog.get_collection(conn, "upserts")
        version = (await db_versions.live_versions(conn, collection.id))[0]
        rows = db_writes.VersionRows(version, chunks, embedder.embed(texts), hashes)
        pending = db_writes.PendingDocument(doc, content_hash(doc), [rows])
        outcomes: list[list[db_writes.WrittenDocument]] = []
        chunk_ids: list[Any] = []
        for _ in range(2):
            async with conn.transaction():
                outcomes.append(await db_writes.write_documents(conn, "default", collection, [version.id], [pending]))
            cur = await conn.execute(
                "SELECT array_agg(c.id ORDER BY c.id) FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.external_id = 'twice'"
            )
            row = await cur.fetchone()
            chunk_ids.append(row[0] if row else None)
    assert chunk_ids[1] == chunk_ids[0] and len(chunk_ids[0]) == len(chunks)  # not rewritten
    assert outcomes == [
        [db_writes.WrittenDocument("twice", inserted=True)],
        [db_writes.WrittenDocument("twice", inserted=False, unchanged=True)],
    ]
