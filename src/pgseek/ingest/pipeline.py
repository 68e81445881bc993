"""Ingestion: documents -> chunks -> vectors -> PostgreSQL, with embedding overlapping the database writes.

A producer takes documents in groups, skips the unchanged ones (same content hash), chunks and embeds the rest in
a worker thread; a writer streams each embedded group into PostgreSQL in one transaction while the producer embeds
the next. When a group's transaction fails, its documents are retried one per transaction, so that a bad document
rolls back alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pgseek.db import store
from pgseek.db.connect import Pool, translate_errors
from pgseek.errors import DatabaseError
from pgseek.heap import release_free_memory
from pgseek.ingest.chunking import ChunkingOptions, chunk_text
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.types import Chunk, Document, IngestReport, LoadFailure

MAX_TITLE_TOKENS = 32
GROUP_CHUNKS = 256
GROUP_DOCUMENTS = 512


@dataclass(frozen=True, slots=True)
class IngestProgress:
    documents_seen: int
    documents_done: int
    chunks_embedded: int
    documents_failed: int


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    tenant: str
    collection: str
    distance: str = "cosine"
    text_search_config: str = "english"
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    index_m: int = 16
    index_ef_construction: int = 64
    index_memory: str = "1GB"
    analyze_after_rows: int = 1000


@dataclass
class _Tally:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    model_seconds: float = 0.0
    failures: list[LoadFailure] = field(default_factory=list)

    def progress(self) -> IngestProgress:
        done = self.added + self.updated + self.unchanged + len(self.failures)
        return IngestProgress(self.seen, done, self.chunks, len(self.failures))


@dataclass(frozen=True, slots=True)
class _Embedded:
    pending: list[store.PendingDocument]


def content_hash(doc: Document, fingerprint: str) -> str:
    """Hash of everything that decides a document's rows: its content and the chunking and model settings."""
    payload = json.dumps(
        [doc.text, doc.title, doc.source, dict(doc.metadata), fingerprint], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def chunk_for_embedding(
    doc: Document, embedder: TokenizingEmbedder, chunk_tokens: int, chunk_overlap: int
) -> tuple[list[Chunk], list[str]]:
    """Chunks of a document, and the texts the model embeds for them: the title, then the chunk.

    The title gives a chunk the context of its document (as BEIR embeds title + text); its tokens come out of the
    chunk's budget so that the model still reads every word.
    """
    prefix = _title_prefix(doc.title, embedder)
    counter = embedder.counter
    budget = embedder.max_tokens - (len(counter.token_spans(prefix)) if prefix else 0)
    size = min(chunk_tokens, budget)
    options = ChunkingOptions(max_tokens=size, overlap_tokens=min(chunk_overlap, size // 2 - 1), hard_limit=budget)
    chunks = chunk_text(doc.text, counter, options)
    return chunks, [f"{prefix}\n{c.text}" if prefix else c.text for c in chunks]


def _title_prefix(title: str | None, embedder: TokenizingEmbedder) -> str:
    if not title or not title.strip():
        return ""
    spans = embedder.counter.token_spans(title)
    return title if len(spans) <= MAX_TITLE_TOKENS else title[: spans[MAX_TITLE_TOKENS - 1][1]]


class Ingestion:
    """One ingest run; create, then ``await run(sources)``."""

    def __init__(
        self, pool: Pool, embedder: TokenizingEmbedder, options: IngestOptions, progress: ProgressCallback | None
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._options = options
        self._progress = progress or (lambda _: None)
        self._tally = _Tally()
        info = embedder.info
        self._fingerprint = f"{info.provider}/{info.name}/{info.version}/{options.chunk_tokens}/{options.chunk_overlap}"

    async def run(self, sources: Iterable[Document | LoadFailure]) -> IngestReport:
        started = time.perf_counter()
        self._collection, self._table = await self._setup()
        queue: asyncio.Queue[_Embedded | None] = asyncio.Queue(maxsize=1)
        try:
            async with translate_errors("ingesting"), asyncio.TaskGroup() as tasks:
                tasks.create_task(self._produce(iter(sources), queue))
                tasks.create_task(self._write(queue))
        except ExceptionGroup as group:
            # One failing stage ends the run (the other is cancelled): surface its own error, not the group.
            raise group.exceptions[0] from group
        async with translate_errors("building the index"):
            await self._finish()
        t = self._tally
        return IngestReport(
            documents_seen=t.seen,
            documents_added=t.added,
            documents_updated=t.updated,
            documents_unchanged=t.unchanged,
            documents_failed=len(t.failures),
            chunks_embedded=t.chunks,
            failures=tuple(t.failures),
            seconds=time.perf_counter() - started,
            model_seconds=t.model_seconds,
        )

    async def _setup(self) -> tuple[store.Collection, str]:
        info = self._embedder.info
        async with self._pool.connection() as conn, conn.transaction():
            await store.setup_lock(conn)
            await store.ensure_tenant(conn, self._options.tenant)
            collection = await store.get_collection(
                conn,
                self._options.collection,
                create=True,
                distance=self._options.distance,
                text_search_config=self._options.text_search_config,
            )
            await store.register_collection(conn, self._options.tenant, collection.id)
            table = await store.ensure_embedding_table(conn, info)
            await store.bind_collection_model(conn, collection, table, info)
        return collection, table.table

    async def _produce(self, sources: Iterator[Document | LoadFailure], queue: asyncio.Queue[_Embedded | None]) -> None:
        while group := await asyncio.to_thread(self._take_group, sources):
            fresh = await self._changed(group)
            if fresh:
                pending = await asyncio.to_thread(self._embed, fresh)
                await queue.put(_Embedded(pending))
            self._progress(self._tally.progress())
        # Only on success: after a failure the task group cancels the writer, and a full queue would block here.
        await queue.put(None)

    def _take_group(self, sources: Iterator[Document | LoadFailure]) -> dict[str, Document]:
        """Next documents to process: bounded by size, and never the same external id twice in one group."""
        group: dict[str, Document] = {}
        estimated_chunks = 0
        for item in sources:
            self._tally.seen += 1
            if isinstance(item, LoadFailure):
                self._tally.failures.append(item)
                continue
            if item.external_id in group:
                # The same id twice in one run: the later record wins and the earlier one is never written.
                self._tally.unchanged += 1
                group[item.external_id] = item
                continue
            group[item.external_id] = item
            estimated_chunks += 1 + len(item.text) // 1000
            if estimated_chunks >= GROUP_CHUNKS or len(group) >= GROUP_DOCUMENTS:
                break
        return group

    async def _changed(self, group: dict[str, Document]) -> list[tuple[Document, str]]:
        hashes = {key: content_hash(doc, self._fingerprint) for key, doc in group.items()}
        async with self._pool.connection() as conn:
            known = await store.existing_hashes(conn, self._options.tenant, self._collection.id, list(group))
        fresh = [(doc, hashes[key]) for key, doc in group.items() if known.get(key) != hashes[key]]
        self._tally.unchanged += len(group) - len(fresh)
        return fresh

    def _embed(self, docs: list[tuple[Document, str]]) -> list[store.PendingDocument]:
        """Chunk and embed in a worker thread: the model releases the GIL, so the writer keeps streaming."""
        prepared: list[tuple[Document, str, list[Chunk], list[str]]] = []
        for doc, digest in docs:
            chunks, texts = self._chunk(doc)
            if not chunks:
                self._tally.failures.append(LoadFailure(doc.source or doc.external_id, "document has no text to index"))
                continue
            prepared.append((doc, digest, chunks, texts))
        all_texts = [t for *_, texts in prepared for t in texts]
        started = time.perf_counter()
        vectors = self._embedder.embed(all_texts, purpose="document")
        self._tally.model_seconds += time.perf_counter() - started
        # The model's batches leave hundreds of MB free in the C heap, which would otherwise stay with the process.
        release_free_memory()
        pending: list[store.PendingDocument] = []
        offset = 0
        for doc, digest, chunks, _ in prepared:
            pending.append(store.PendingDocument(doc, digest, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        return pending

    def _chunk(self, doc: Document) -> tuple[list[Chunk], list[str]]:
        return chunk_for_embedding(doc, self._embedder, self._options.chunk_tokens, self._options.chunk_overlap)

    async def _write(self, queue: asyncio.Queue[_Embedded | None]) -> None:
        while (batch := await queue.get()) is not None:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    written = await store.write_documents(
                        conn, self._options.tenant, self._collection, self._table, batch.pending
                    )
                self._count(written, batch.pending)
            except DatabaseError:
                await self._write_one_by_one(batch.pending)
            self._progress(self._tally.progress())

    async def _write_one_by_one(self, pending: list[store.PendingDocument]) -> None:
        for item in pending:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    written = await store.write_documents(
                        conn, self._options.tenant, self._collection, self._table, [item]
                    )
                self._count(written, [item])
            except DatabaseError as exc:
                where = item.document.source or item.document.external_id
                self._tally.failures.append(LoadFailure(where, f"database rejected the document: {exc}"))

    def _count(self, written: list[store.WrittenDocument], pending: list[store.PendingDocument]) -> None:
        self._tally.added += sum(w.inserted for w in written)
        self._tally.updated += sum(not w.inserted for w in written)
        self._tally.chunks += sum(len(p.chunks) for p in pending)

    async def _finish(self) -> None:
        if self._tally.chunks == 0:
            return
        o = self._options
        async with self._pool.connection() as conn:
            built = await store.ensure_hnsw_index(
                conn,
                self._table,
                self._collection.distance,
                m=o.index_m,
                ef_construction=o.index_ef_construction,
                memory=o.index_memory,
            )
            if built or self._tally.chunks >= o.analyze_after_rows:
                await store.analyze(conn, ["documents", "chunks", self._table])
