"""A candidate version's backfill: embed every document of the collection (every tenant's) into the version's own
chunks and table, then build its vector index and mark it backfilled (decision 0018).

Resumable by construction: the work list is "documents with no chunk in the version", read again on every pass,
and each group of documents is written in one transaction. A backfill killed at any moment (kill -9 included)
leaves whole documents or none; run it again and it does the rest, never a document twice. It holds a session
advisory lock on the version for its whole run, so that two backfillers never run one version and the status can
tell a running backfill from a stopped one; the server drops the lock when the process dies.

Writes made meanwhile reach the candidate by themselves (every ingest writes every live version); a document an
ingest run holds is left to that run and looked at again on the next pass. No transaction is open while the model
embeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgseek import fingerprint
from pgseek.db import catalog, indexes, versions, writes
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import TenantConn, claims_scope
from pgseek.db.versions import Version
from pgseek.errors import ConflictError, NotFoundError
from pgseek.heap import release_free_memory
from pgseek.ingest.pipeline import ModelSource, chunk_for_embedding, embed_hash
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.types import Document

GROUP_DOCUMENTS = 16
"""Documents per transaction: small, so that a kill loses little and progress moves often."""
IDLE_PASS_S = 0.5
"""Wait before another pass when the last one could claim nothing (ingest runs held the rest)."""
MAX_IDLE_PASSES = 240


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    version: int
    documents_total: int
    documents_done: int
    """Documents that have chunks in the version: written before this run, by it, or by ingests meanwhile."""
    chunks_written: int
    """By this run."""
    seconds: float
    stage: str = "embedding"
    """embedding, indexing or done."""

    @property
    def rate(self) -> float:
        """Chunks per second written by this run."""
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class BackfillReport:
    version: int
    documents_written: int
    chunks_written: int
    documents_total: int
    seconds: float
    index_seconds: float


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    index_m: int = 16
    index_ef_construction: int = 64
    index_memory: str = "1GB"
    embed_batch: int = 64
    ivfflat_min_rows: int = 10_000


async def backfill(
    pool: Pool,
    version_id: int,
    models: ModelSource,
    options: BackfillOptions,
    progress: Callable[[BackfillProgress], None] | None = None,
) -> BackfillReport:
    """Run (or resume) the backfill of a candidate version to its end. ConflictError when another process is
    backfilling it, or when it is not a candidate being backfilled."""
    report = progress or (lambda _: None)
    started = time.perf_counter()
    async with translate_errors("backfilling a version"):
        async with pool.connection() as conn:
            version = await versions.get_version(conn, version_id)
        if version is None:
            raise NotFoundError(f"there is no embedding version {version_id}")
        versions.require_states(version, ["candidate"], "backfilled")
        embedder = await models.for_model(version.model)
        await fingerprint.verify(pool, version, embedder)
        async with claims_scope(pool, "") as claims:
            if not await versions.try_backfill_lock(claims.conn, version.id):
                raise ConflictError(
                    f"version {version.id} is being backfilled by another process already; follow it with "
                    "pgseek models status"
                )
            run = _Run(pool, claims, version, embedder, options, report, started)
            await run.fill()
            index_started = time.perf_counter()
            report(run.progress("indexing"))
            await run.finish()
            index_seconds = time.perf_counter() - index_started
    report(run.progress("done"))
    return BackfillReport(
        version.id, run.documents, run.chunks, run.total, time.perf_counter() - started, index_seconds
    )


class _Run:
    def __init__(
        self,
        pool: Pool,
        claims: TenantConn,
        version: Version,
        embedder: TokenizingEmbedder,
        options: BackfillOptions,
        report: Callable[[BackfillProgress], None],
        started: float,
    ) -> None:
        self._pool = pool
        self._claims = claims
        self._version = version
        self._embedder = embedder
        self._options = options
        self._report = report
        self._started = started
        self.documents = 0
        self.chunks = 0
        self.total = 0
        self._missing = 0

    def progress(self, stage: str = "embedding") -> BackfillProgress:
        return BackfillProgress(
            self._version.id,
            self.total,
            self.total - self._missing,
            self.chunks,
            time.perf_counter() - self._started,
            stage,
        )

    async def _count(self) -> None:
        async with self._pool.connection() as conn:
            self._missing, self.total = await versions.count_missing(conn, self._version)

    async def fill(self) -> None:
        """Passes over the documents the version lacks until it lacks none."""
        await self._count()
        self._report(self.progress())
        idle = 0
        while self._missing:
            written = await self._pass()
            await self._count()
            if self._missing and not written:
                idle += 1
                if idle > MAX_IDLE_PASSES:
                    raise ConflictError(
                        f"{self._missing} documents stayed held by ingest runs for "
                        f"{MAX_IDLE_PASSES * IDLE_PASS_S:.0f} s; run the backfill again once they are done"
                    )
                await asyncio.sleep(IDLE_PASS_S)
            else:
                idle = 0

    async def _pass(self) -> int:
        after, written = 0, 0
        while True:
            async with self._pool.connection() as conn:
                rows = await versions.missing_documents(conn, self._version, after=after, limit=GROUP_DOCUMENTS)
            if not rows:
                return written
            after = int(rows[-1]["id"])
            written += await self._group(rows)
            self._missing = max(0, self._missing - written)
            self._report(self.progress())

    async def _group(self, rows: list[dict[str, Any]]) -> int:
        held = await self._claim(rows)
        try:
            mine = [r for r in rows if (r["tenant_id"], r["external_id"]) in held]
            if not mine:
                return 0
            parts = await asyncio.to_thread(self._embed, mine)
            async with self._pool.connection() as conn, conn.transaction():
                locked = await versions.lock_live_versions(conn, self._version.collection_id)
                if self._version.id not in locked:
                    raise ConflictError(
                        f"version {self._version.id} was retired or is no longer live; its backfill stops"
                    )
                collection = await catalog.get_collection(conn, self._version.collection, version=self._version.id)
                done = await writes.write_version_rows(conn, collection, self._version, parts)
            self.documents += len(done)
            self.chunks += sum(len(rows.chunks) for doc_id, _, _, rows in parts if doc_id in done)
            return len(done)
        finally:
            await self._release(held)

    async def _claim(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """Claim the documents as ingest runs do (decision 0008), tenant by tenant on the backfill's connection."""
        held: set[tuple[str, str]] = set()
        for tenant in {str(r["tenant_id"]) for r in rows}:
            ids = [str(r["external_id"]) for r in rows if r["tenant_id"] == tenant]
            claimed = await writes.claim_documents(self._scope(tenant), self._version.collection_id, ids)
            held |= {(tenant, i) for i in claimed}
        return held

    async def _release(self, held: set[tuple[str, str]]) -> None:
        for tenant in {t for t, _ in held}:
            ids = [i for t, i in held if t == tenant]
            await writes.release_documents(self._scope(tenant), self._version.collection_id, ids)

    def _scope(self, tenant: str) -> TenantConn:
        # Claims are keyed by tenant and document id; the connection's own scope reads no tenant rows.
        return TenantConn(self._claims.conn, tenant)

    def _embed(self, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str, str, writes.VersionRows]]:
        """Chunk and embed the documents as the version says, in a worker thread."""
        v, embedder = self._version, self._embedder
        cut: list[tuple[dict[str, Any], list[Any], list[str]]] = []
        for r in rows:
            doc = Document(
                external_id=r["external_id"],
                text=r["text"],
                title=r["title"],
                source=r["source"],
                metadata=r["metadata"] or {},
                pages=tuple(r["pages"] or ()),
            )
            chunks, texts = chunk_for_embedding(doc, embedder, v.chunk_tokens, v.chunk_overlap)
            cut.append((r, chunks, texts))
        texts = [t for _, _, ts in cut for t in ts]
        vectors = np.empty((len(texts), embedder.info.dimensions), dtype=np.float32)
        size = max(1, self._options.embed_batch)
        for start in range(0, len(texts), size):
            vectors[start : start + size] = embedder.embed(texts[start : start + size], purpose="document")
        release_free_memory()
        parts: list[tuple[int, str, str, writes.VersionRows]] = []
        offset = 0
        for r, chunks, ts in cut:
            rows_ = writes.VersionRows(
                v, chunks, vectors[offset : offset + len(ts)], [embed_hash(t, embedder.info) for t in ts]
            )
            offset += len(ts)
            parts.append((int(r["id"]), str(r["tenant_id"]), str(r["content_hash"]), rows_))
        return parts

    async def finish(self) -> None:
        """Build the version's index, then mark it backfilled once, with the writes in flight done, it lacks no
        document."""
        o, v = self._options, self._version
        assert v.table is not None
        async with self._pool.connection() as conn:
            collection = await catalog.get_collection(conn, v.collection, version=v.id)
            build = indexes.BuildOptions(o.index_m, o.index_ef_construction, o.index_memory, o.ivfflat_min_rows)
            await writes.ensure_vector_index(conn, v.table, collection.index, build, collection_id=collection.id)
            await writes.analyze(conn, ["chunks", v.table])
        while True:
            async with self._pool.connection() as conn, conn.transaction():
                await versions.lock_collection_versions(conn, v.collection_id)
                missing, _ = await versions.count_missing(conn, v)
                if not missing:
                    await versions.mark_backfilled(conn, v.id)
                    return
            await self.fill()  # an ingest run unaware of the candidate wrote meanwhile
