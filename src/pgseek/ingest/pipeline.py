"""Ingestion: documents -> chunks -> vectors -> PostgreSQL, with embedding overlapping the database writes.

A producer takes documents in groups, claims them (another run holding one makes this run come back to it later),
skips the unchanged ones (same content hash), chunks the rest, reuses the stored vectors of the chunks whose embedded
text did not change (decision 0017) and embeds the others in a worker thread; a writer streams each
embedded group into PostgreSQL in one transaction while the producer embeds the next, then releases its claims.
When a group's transaction fails, its documents are retried one per transaction, so that a bad document rolls back
alone.

Progress is reported as the model embeds each batch, from the event loop's thread (the worker thread hands its
reports over). A cancelled run stops between model batches: the groups committed stay, the claims are released, and
``IngestInterruptedError`` carries what was kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from pgseek import fingerprint
from pgseek.db import catalog, indexes, versions, writes
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import TenantConn, claims_scope
from pgseek.db.versions import Version
from pgseek.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailableError,
    DataRejectedError,
    IngestInterruptedError,
)
from pgseek.heap import release_free_memory
from pgseek.ingest.chunking import ChunkingOptions, chunk_text, with_pages
from pgseek.names import document_id_problem, json_problem, text_problem
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.types import Chunk, Document, IngestReport, LoadFailure, ModelInfo

T = TypeVar("T")
MAX_TITLE_TOKENS = 32
GROUP_CHUNKS = 256
GROUP_DOCUMENTS = 512
CLAIM_RETRY_S = (0.05, 1.0)
"""First and longest wait before trying again to claim documents another run holds."""
VERSION_RETRIES = 5
"""Times a group is prepared again because the collection's live versions changed before it was written."""
READ_REPORT_S = 0.2
"""While documents are read, progress is reported at most this often (one report per document would swamp a
.jsonl file's millions of records)."""


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Where an ingest run stands. Every count only grows during a run.

    ``chunks_embedded / chunks_known`` is the work the model has done of the work known so far (documents are read
    lazily, so ``chunks_known`` grows as they are); with ``seconds`` it gives a rate and a time remaining.
    """

    documents_seen: int
    """Documents read from the sources."""
    documents_done: int
    """Documents finished: written, unchanged or failed."""
    chunks_embedded: int
    """Chunks the model has embedded (some may not be written yet)."""
    documents_failed: int
    chunks_known: int = 0
    """Chunks cut from the documents read so far that need embedding: embedded ones included, reused ones not."""
    chunks_written: int = 0
    """Chunks committed to the database: embedded ones and those whose stored vector was reused."""
    current: str | None = None
    """Source (or id) of the document last read or being chunked and embedded."""
    seconds: float = 0.0
    """Since the run started."""


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True, slots=True)
class IngestOptions:
    tenant: str
    collection: str
    distance: str = "cosine"
    text_search_config: str = "english"
    index_kind: str = "hnsw"
    """Of a collection this run creates, as ``distance`` (decision 0027)."""
    quantization: str = "none"
    partitions: int = 0
    """Of a collection this run creates: its embeddings partitioned by tenant into this many buckets (decision 0031)."""
    chunk_tokens: int = 200
    """Chunking of a new collection's first version; an existing collection chunks as each version says."""
    chunk_overlap: int = 32
    index_m: int = 16
    index_ef_construction: int = 64
    index_memory: str = "1GB"
    ivfflat_min_rows: int = 10_000
    analyze_after_rows: int = 1000
    embed_batch: int = 64
    """Texts per model call: progress is reported, and a cancelled run stops, between two calls."""


@dataclass
class _Tally:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    """Written."""
    reused: int = 0
    """Written with a stored vector, not embedded."""
    chunks_known: int = 0
    chunks_embedded: int = 0
    current: str | None = None
    model_seconds: float = 0.0
    failures: list[LoadFailure] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def done(self) -> int:
        return self.added + self.updated + self.unchanged + len(self.failures)

    def progress(self) -> IngestProgress:
        return IngestProgress(
            documents_seen=self.seen,
            documents_done=self.done,
            chunks_embedded=self.chunks_embedded,
            documents_failed=len(self.failures),
            chunks_known=self.chunks_known,
            chunks_written=self.chunks,
            current=self.current,
            seconds=time.perf_counter() - self.started,
        )

    def report(self) -> IngestReport:
        return IngestReport(
            documents_seen=self.seen,
            documents_added=self.added,
            documents_updated=self.updated,
            documents_unchanged=self.unchanged,
            documents_failed=len(self.failures),
            chunks_embedded=self.chunks - self.reused,
            chunks_reused=self.reused,
            failures=tuple(self.failures),
            seconds=time.perf_counter() - self.started,
            model_seconds=self.model_seconds,
        )


class _Stopped(Exception):
    """Raised in the worker thread between model batches once the run is cancelled."""


class ModelSource(Protocol):
    """Where a run gets the model of a version other than the one it was given (pgseek.embedding.Embedders)."""

    async def for_model(self, info: ModelInfo) -> TokenizingEmbedder: ...


@dataclass(frozen=True, slots=True)
class _Target:
    """A live version of the collection and the model that writes into it."""

    version: Version
    embedder: TokenizingEmbedder


@dataclass(frozen=True, slots=True)
class _Part:
    """A changed document cut into one version's chunks, with the texts the model reads and their embed hashes."""

    target: _Target
    chunks: list[Chunk]
    texts: list[str]
    embed_hashes: list[bytes]


@dataclass(frozen=True, slots=True)
class _Prepared:
    document: Document
    content_hash: str
    parts: list[_Part]


@dataclass(frozen=True, slots=True)
class _Embedded:
    pending: list[writes.PendingDocument]
    claimed: list[str]
    """External ids this run claimed for the group: released once it is written."""


def content_hash(doc: Document, settings: str = "") -> str:
    """Hash of everything that decides a document's rows. Each version's model and chunking are the version's own
    (decision 0018), so the settings are left out; hashes written before versions hold the model and chunking
    settings as ``settings``, and are recognised with it."""
    fields: list[object] = [doc.text, doc.title, doc.source, dict(doc.metadata), settings]
    if doc.pages:  # only then: the hashes of documents without pages stay what they were
        fields.append(list(doc.pages))
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def embed_hash(text: str, model: ModelInfo) -> bytes:
    """What a stored vector is reused by: the exact text the model read and the model's whole identity, so that
    another model, version or precision never shares a vector (decision 0017)."""
    payload = json.dumps([*model.key, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest()


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
    chunks = with_pages(chunk_text(doc.text, counter, options), doc.pages)
    return chunks, [f"{prefix}\n{c.text}" if prefix else c.text for c in chunks]


def _title_prefix(title: str | None, embedder: TokenizingEmbedder) -> str:
    if not title or not title.strip():
        return ""
    spans = embedder.counter.token_spans(title)
    return title if len(spans) <= MAX_TITLE_TOKENS else title[: spans[MAX_TITLE_TOKENS - 1][1]]


def _document_problem(doc: Document) -> str | None:
    """What the loaders check, checked again for documents a program built itself: one bad document is a failure,
    never a database error that would stop the batch."""
    problem = document_id_problem(doc.external_id)
    if problem is not None:
        return f"the document id {problem}"
    for name, text in (("text", doc.text), ("title", doc.title), ("source", doc.source)):
        problem = text_problem(text) if text is not None else None
        if problem is not None:
            return f"the {name} {problem}"
    problem = json_problem(doc.metadata)
    return f"the metadata {problem}" if problem is not None else None


def _printable(text: str) -> str:
    # A lone surrogate cannot be encoded in a JSON response or a terminal: shown escaped instead.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Ingestion:
    """One ingest run; create, then ``await run(sources)``."""

    _claims: TenantConn

    def __init__(
        self,
        pool: Pool,
        embedder: TokenizingEmbedder,
        options: IngestOptions,
        progress: ProgressCallback | None,
        models: ModelSource | None = None,
    ) -> None:
        """``embedder`` writes a new collection's first version and any version of its model; ``models`` gives the
        models of the collection's other live versions."""
        self._pool = pool
        self._embedder = embedder
        self._models = models
        self._targets: list[_Target] = []
        self._options = options
        self._progress = progress or (lambda _: None)
        self._tally = _Tally()
        self._stop = threading.Event()
        self._idle = threading.Event()
        """Set while no worker thread of this run is running: a cancelled run waits for it before it returns."""
        self._idle.set()
        self._last_read_report = 0.0
        self._legacy_fingerprint = ""

    async def run(self, sources: Iterable[Document | LoadFailure]) -> IngestReport:
        self._loop = asyncio.get_running_loop()
        self._tally = _Tally()
        try:
            await self._run(sources)
        except asyncio.CancelledError:
            await self._stopped()
            # Cancellation handled here: the caller gets what was kept instead (asyncio asks for uncancel then).
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            t = self._tally
            raise IngestInterruptedError(t.report(), not_started=t.seen - t.done) from None
        except DatabaseUnavailableError as exc:
            # An outage is not N bad documents: stop now, and say what the groups committed so far keep.
            kept = self._tally.added + self._tally.updated
            documents = f"{kept} document{'s' if kept != 1 else ''}"
            raise DatabaseUnavailableError(
                f"database unavailable while ingesting: {exc.reason}; {documents} committed before the outage are "
                "kept, and ingesting the same sources again resumes after them",
                reason=exc.reason,
            ) from exc
        return self._tally.report()

    async def _stopped(self) -> None:
        """After a cancellation: let the worker thread stop at its next model batch, then return. The task group
        has rolled back the group being written and the claims scope has released every claim."""
        self._stop.set()
        while not await asyncio.to_thread(self._idle.wait, 0.1):
            pass

    async def _in_thread(self, work: Callable[[], T]) -> T:
        def tracked() -> T:
            self._idle.clear()
            try:
                return work()
            finally:
                self._idle.set()

        return await asyncio.to_thread(tracked)

    def _report_from_thread(self) -> None:
        # The callback runs on the loop's thread, where each report is taken: the counts a caller sees only grow.
        self._loop.call_soon_threadsafe(self._report)

    def _report(self) -> None:
        self._progress(self._tally.progress())

    async def _run(self, sources: Iterable[Document | LoadFailure]) -> None:
        async with translate_errors("preparing the collection"):
            self._collection = await self._setup()
            await self._load_targets()
        queue: asyncio.Queue[_Embedded | None] = asyncio.Queue(maxsize=1)
        async with translate_errors("ingesting"), claims_scope(self._pool, self._options.tenant) as self._claims:
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._produce(iter(sources), queue))
                    tasks.create_task(self._write(queue))
            except ExceptionGroup as group:
                # One failing stage ends the run (the other is cancelled): surface its own error, not the group.
                raise group.exceptions[0] from group
        async with translate_errors("building the index"):
            await self._finish()

    async def _setup(self) -> catalog.Collection:
        o = self._options
        async with self._pool.connection() as conn, conn.transaction():
            await catalog.setup_lock(conn)
            await catalog.ensure_tenant(conn, o.tenant)
            collection = await catalog.get_collection(
                conn,
                o.collection,
                create=True,
                distance=o.distance,
                text_search_config=o.text_search_config,
                index_kind=o.index_kind,
                quantization=o.quantization,
                partitions=o.partitions,
            )
            await catalog.register_collection(conn, o.tenant, collection.id)
            return await catalog.ensure_active_version(
                conn, collection, self._embedder.info, chunk_tokens=o.chunk_tokens, chunk_overlap=o.chunk_overlap
            )

    async def _load_targets(self) -> None:
        """Read the collection's live versions and load (and check the fingerprint of) the model of each."""
        async with self._pool.connection() as conn:
            live = await versions.live_versions(conn, self._collection.id)
        targets: list[_Target] = []
        for version in live:
            embedder = await self._embedder_for(version.model)
            await fingerprint.verify(self._pool, version, embedder)
            targets.append(_Target(version, embedder))
        self._targets = targets
        active = next((t.version for t in targets if t.version.state == "active"), live[0] if live else None)
        if active is not None:
            m = active.model
            self._legacy_fingerprint = f"{m.provider}/{m.name}/{m.version}/{active.chunk_tokens}/{active.chunk_overlap}"

    async def _embedder_for(self, info: ModelInfo) -> TokenizingEmbedder:
        if info.key == self._embedder.info.key:
            return self._embedder
        if self._models is None:
            raise ConfigurationError(
                f"collection {self._options.collection!r} has a version embedded with {info.name} {info.version}, "
                f"not {self._embedder.info.name}; ingest through pgseek's facade, which loads each version's model"
            )
        return await self._models.for_model(info)

    async def _produce(self, sources: Iterator[Document | LoadFailure], queue: asyncio.Queue[_Embedded | None]) -> None:
        deferred: dict[str, Document] = {}
        while group := await self._in_thread(lambda: self._take_group(sources)):
            await self._embed_changed(group, deferred, queue)
        # Documents another run was embedding: once it has written them, they are most likely unchanged.
        wait = CLAIM_RETRY_S[0]
        while deferred:
            await asyncio.sleep(wait)
            wait = min(wait * 2, CLAIM_RETRY_S[1])
            group, deferred = deferred, {}
            await self._embed_changed(group, deferred, queue)
        # Only on success: after a failure the task group cancels the writer, and a full queue would block here.
        await queue.put(None)

    async def _embed_changed(
        self, group: dict[str, Document], deferred: dict[str, Document], queue: asyncio.Queue[_Embedded | None]
    ) -> None:
        fresh = await self._changed(group, deferred)
        if fresh:
            prepared = await self._in_thread(lambda: self._prepare(fresh))
            stored = await self._stored_vectors(prepared)
            pending = await self._in_thread(lambda: self._embed(prepared, stored))
            claimed = [doc.external_id for doc, _ in fresh]
            if pending:
                await queue.put(_Embedded(pending, claimed))
            else:  # none had text to index
                await self._release(claimed)
        self._progress(self._tally.progress())

    def _take_group(self, sources: Iterator[Document | LoadFailure]) -> dict[str, Document]:
        """Next documents to process: bounded by size, and never the same external id twice in one group."""
        group: dict[str, Document] = {}
        estimated_chunks = 0
        for item in sources:
            self._tally.seen += 1
            self._tally.current = item.path if isinstance(item, LoadFailure) else item.source or item.external_id
            if time.perf_counter() - self._last_read_report >= READ_REPORT_S:
                self._last_read_report = time.perf_counter()
                self._report_from_thread()
            if isinstance(item, LoadFailure):
                self._tally.failures.append(item)
                continue
            problem = _document_problem(item)
            if problem is not None:
                self._tally.failures.append(LoadFailure(_printable(item.external_id), problem))
                continue
            if item.external_id in group:
                # The same id twice in one run: the later record wins and the earlier one is never written.
                self._tally.unchanged += 1
                group[item.external_id] = item
                continue
            group[item.external_id] = item
            estimated_chunks += 1 + len(item.text) // 1000
            if estimated_chunks >= GROUP_CHUNKS or len(group) >= GROUP_DOCUMENTS or self._stop.is_set():
                break
        return group

    async def _changed(self, group: dict[str, Document], deferred: dict[str, Document]) -> list[tuple[Document, str]]:
        """The group's documents this run claims and must write (new or changed), with their hashes.

        Claimed unchanged documents are released at once; those another run holds go to ``deferred``, to be tried
        again when the rest is done. A later record of a deferred id supersedes it.
        """
        for key in group.keys() & deferred.keys():
            del deferred[key]
            self._tally.unchanged += 1  # superseded within this run, like a repeated id within one group
        claimed = await writes.claim_documents(self._claims, self._collection.id, list(group))
        deferred.update((key, doc) for key, doc in group.items() if key not in claimed)
        hashes = {key: content_hash(group[key]) for key in claimed}
        # Read after claiming, on the claims connection (a new snapshot per statement): what another run wrote
        # before releasing these documents is seen.
        known = await writes.existing_hashes(self._claims, self._collection.id, list(claimed))
        same = {key for key, digest in hashes.items() if known.get(key) in (digest, self._legacy(group[key]))}
        fresh = [(group[key], digest) for key, digest in hashes.items() if key not in same]
        unchanged = list(same)
        await self._release(unchanged)
        self._tally.unchanged += len(unchanged)
        return fresh

    def _legacy(self, doc: Document) -> str | None:
        """The document's hash as written before versions (decision 0018), or None when there is nothing to match."""
        return content_hash(doc, self._legacy_fingerprint) if self._legacy_fingerprint else None

    async def _release(self, external_ids: list[str]) -> None:
        await writes.release_documents(self._claims, self._collection.id, external_ids)

    def _prepare(self, docs: list[tuple[Document, str]]) -> list[_Prepared]:
        """Chunk in a worker thread (tokenizing is most of the work) as each live version chunks, hashing what its
        model would read."""
        prepared: list[_Prepared] = []
        targets = self._targets
        for doc, digest in docs:
            self._tally.current = doc.source or doc.external_id
            parts: list[_Part] = []
            for target in targets:
                v = target.version
                chunks, texts = chunk_for_embedding(doc, target.embedder, v.chunk_tokens, v.chunk_overlap)
                parts.append(_Part(target, chunks, texts, [embed_hash(t, target.embedder.info) for t in texts]))
            if not parts or not all(part.chunks for part in parts):
                self._tally.failures.append(LoadFailure(doc.source or doc.external_id, "document has no text to index"))
                continue
            prepared.append(_Prepared(doc, digest, parts))
            self._report_from_thread()
        return prepared

    async def _stored_vectors(self, prepared: list[_Prepared]) -> dict[int, dict[bytes, NDArray[np.float32]]]:
        """Per version, the vectors already stored for these documents' unchanged chunks. Read under the claims, on
        the claims connection: the documents' stored chunks cannot change until this run has written them."""
        found: dict[int, dict[bytes, NDArray[np.float32]]] = {}
        if not prepared:
            return found
        ids = [p.document.external_id for p in prepared]
        for target in self._targets:
            v = target.version
            hashes = list({h for p in prepared for part in p.parts if part.target is target for h in part.embed_hashes})
            found[v.id] = await writes.stored_vectors(self._claims, self._collection.id, v, ids, hashes)
        return found

    def _embed(
        self, prepared: list[_Prepared], stored: dict[int, dict[bytes, NDArray[np.float32]]]
    ) -> list[writes.PendingDocument]:
        """Embed the texts no stored vector stands for, version by version, in a worker thread: the model releases
        the GIL, so the writer keeps streaming."""
        rows: dict[tuple[int, int], writes.VersionRows] = {}
        for target in {id(part.target): part.target for p in prepared for part in p.parts}.values():
            known = stored.get(target.version.id, {})
            parts = [(i, part) for i, p in enumerate(prepared) for part in p.parts if part.target is target]
            texts = [
                t for _, part in parts for t, h in zip(part.texts, part.embed_hashes, strict=True) if h not in known
            ]
            self._tally.chunks_known += len(texts)
            fresh = iter(self._embed_in_batches(texts, target.embedder))
            dimensions = target.embedder.info.dimensions
            for i, part in parts:
                vectors = np.empty((len(part.chunks), dimensions), dtype=np.float32)
                for j, h in enumerate(part.embed_hashes):
                    found = known.get(h)
                    vectors[j] = next(fresh) if found is None else found
                reused = sum(h in known for h in part.embed_hashes)
                rows[(i, target.version.id)] = writes.VersionRows(
                    target.version, part.chunks, vectors, part.embed_hashes, reused
                )
        # The model's batches leave hundreds of MB free in the C heap, which would otherwise stay with the process.
        release_free_memory()
        return [
            writes.PendingDocument(p.document, p.content_hash, [rows[(i, part.target.version.id)] for part in p.parts])
            for i, p in enumerate(prepared)
        ]

    def _embed_in_batches(self, texts: list[str], embedder: TokenizingEmbedder) -> NDArray[np.float32]:
        """One model call per batch, checking for a cancellation and reporting progress between calls.

        Texts go to the model sorted by length, as the model would sort them itself: batches of similar lengths
        pad little."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), embedder.info.dimensions), dtype=np.float32)
        size = max(1, self._options.embed_batch)
        for start in range(0, len(order), size):
            if self._stop.is_set():
                raise _Stopped
            batch = order[start : start + size]
            began = time.perf_counter()
            vectors[batch] = embedder.embed([texts[i] for i in batch], purpose="document")
            self._tally.model_seconds += time.perf_counter() - began
            self._tally.chunks_embedded += len(batch)
            self._report_from_thread()
        return vectors

    async def _write(self, queue: asyncio.Queue[_Embedded | None]) -> None:
        while (batch := await queue.get()) is not None:
            try:
                await self._write_group(batch.pending)
            except DataRejectedError:
                # Some document of the group is bad: find it, one transaction each. Anything else stops the run.
                await self._write_one_by_one(batch.pending)
            finally:
                await self._release(batch.claimed)
            self._progress(self._tally.progress())

    async def _write_one_by_one(self, pending: list[writes.PendingDocument]) -> None:
        for item in pending:
            try:
                await self._write_group([item])
            except DataRejectedError as exc:
                where = item.document.source or item.document.external_id
                self._tally.failures.append(LoadFailure(where, str(exc)))

    async def _write_group(self, pending: list[writes.PendingDocument]) -> None:
        """Write a group in one transaction and count it; when the collection's live versions changed since it was
        prepared (a candidate added, a version activated or retired), prepare it again for them first."""
        for _ in range(VERSION_RETRIES):
            live = [rows.version.id for rows in pending[0].rows]
            try:
                async with self._pool.connection() as conn:
                    async with conn.transaction():
                        written = await writes.write_documents(
                            conn, self._options.tenant, self._collection, live, pending
                        )
                    # Counted once committed, before giving the connection back: a cancellation there must not
                    # leave committed documents out of what the run says it kept.
                    self._count(written, pending)
                return
            except writes.VersionsChanged as changed:
                if sorted(changed.live) != sorted(t.version.id for t in self._targets):
                    await self._load_targets()
                pending = await self._prepare_again(pending)
        raise ConflictError(
            f"the embedding versions of collection {self._options.collection!r} kept changing while this run wrote; "
            "ingest again"
        )

    async def _prepare_again(self, pending: list[writes.PendingDocument]) -> list[writes.PendingDocument]:
        docs = [(p.document, p.content_hash) for p in pending]
        prepared = await self._in_thread(lambda: self._prepare(docs))
        stored = await self._stored_vectors(prepared)
        return await self._in_thread(lambda: self._embed(prepared, stored))

    def _count(self, written: list[writes.WrittenDocument], pending: list[writes.PendingDocument]) -> None:
        self._tally.added += sum(w.inserted for w in written)
        self._tally.updated += sum(not w.inserted and not w.unchanged for w in written)
        self._tally.unchanged += sum(w.unchanged for w in written)
        self._tally.chunks += sum(len(rows.chunks) for p in pending for rows in p.rows)
        self._tally.reused += sum(rows.reused for p in pending for rows in p.rows)

    async def _finish(self) -> None:
        # Even when nothing was new: a run killed during the first build left no index (or an invalid one) behind.
        # A candidate still being backfilled is indexed by its backfill, in one bulk build at its end.
        o = self._options
        targets = [
            t.version
            for t in self._targets
            if t.version.table is not None and (t.version.state != "candidate" or t.version.backfilled_at is not None)
        ]
        tables = [v.table for v in targets if v.table is not None]
        build = indexes.BuildOptions(o.index_m, o.index_ef_construction, o.index_memory, o.ivfflat_min_rows)
        c = self._collection
        async with self._pool.connection() as conn:
            built = False
            for version in targets:
                assert version.table is not None
                spec = indexes.IndexSpec(c.index_kind, c.quantization, c.distance, version.model.dimensions)
                built |= await writes.ensure_vector_index(conn, version.table, spec, build, collection_id=c.id)
            if built or self._tally.chunks >= o.analyze_after_rows:
                await writes.analyze(conn, ["documents", "chunks", *tables])
