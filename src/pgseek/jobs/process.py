"""What a worker does with the jobs it claimed: bring each document up to date through the ingest pipeline (which
writes every live version, skips unchanged content by its hash and reuses the vectors of unchanged chunks), delete
the documents that are gone, and record each job's outcome.

A job that runs twice writes once: its document's content hash is the same the second time. Jobs are processed per
(tenant, collection); every write carries the job's tenant, and deletes run under that tenant's row-level security.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pgseek.db import catalog as db_catalog
from pgseek.db import queue, sync
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.queue import Job
from pgseek.db.scope import tenant_transaction
from pgseek.db.sync import SyncSource
from pgseek.errors import NotFoundError
from pgseek.types import Document, IngestReport

Ingest = Callable[[Sequence[Document], str, str], Awaitable[IngestReport]]
"""Ingest documents into (collection, tenant): the facade's ``ingest_documents``."""


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int
    backoff_s: float


@dataclass
class Outcomes:
    """What became of a batch's jobs: the done ones with their outcome, the failed ones with their reason."""

    done: dict[int, str]
    failed: dict[int, str]


def document_payload(doc: Document) -> dict[str, Any]:
    """A document as a job carries it (the JSON record the HTTP API ingests, with pages)."""
    record: dict[str, Any] = {"id": doc.external_id, "text": doc.text, "metadata": dict(doc.metadata)}
    if doc.title is not None:
        record["title"] = doc.title
    if doc.source is not None:
        record["source"] = doc.source
    if doc.pages:
        record["pages"] = list(doc.pages)
    return record


def payload_document(payload: dict[str, Any]) -> Document:
    return Document(
        external_id=str(payload["id"]),
        text=str(payload.get("text") or ""),
        title=payload.get("title"),
        source=payload.get("source"),
        metadata=payload.get("metadata") or {},
        pages=tuple(payload.get("pages") or ()),
    )


class Processor:
    """Turns claimed jobs into writes. One instance per worker; ``process`` runs one claimed batch."""

    def __init__(self, pool: Pool, ingest: Ingest) -> None:
        self._pool = pool
        self._ingest = ingest

    async def process(self, jobs: Sequence[Job]) -> Outcomes:
        outcomes = Outcomes({}, {})
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            groups.setdefault((job.tenant_id, job.collection), []).append(job)
        sources = await self._sources({j.source_id for j in jobs if j.source_id is not None})
        for (tenant, collection), group in groups.items():
            await self._process_group(tenant, collection, group, sources, outcomes)
        return outcomes

    async def _sources(self, ids: set[int]) -> dict[int, SyncSource]:
        if not ids:
            return {}
        async with translate_errors("reading the synced tables"), self._pool.connection() as conn:
            return await sync.sources_by_id(conn, sorted(ids))

    async def _process_group(
        self, tenant: str, collection: str, jobs: list[Job], sources: dict[int, SyncSource], outcomes: Outcomes
    ) -> None:
        upserts, deletes = await self._documents(tenant, jobs, sources, outcomes)
        if deletes:
            await self._delete(tenant, collection, deletes, outcomes)
        if upserts:
            await self._upsert(tenant, collection, upserts, outcomes)

    async def _documents(
        self, tenant: str, jobs: list[Job], sources: dict[int, SyncSource], outcomes: Outcomes
    ) -> tuple[dict[int, Document], dict[int, str]]:
        """The documents to write and the ids to delete, by job. A synced row is read as it is now: gone (or moved
        to another tenant) means delete."""
        upserts: dict[int, Document] = {}
        deletes: dict[int, str] = {}
        by_source: dict[int, list[Job]] = {}
        for job in jobs:
            if job.kind == "delete" and job.source_id is None:
                deletes[job.id] = job.external_id
            elif job.source_id is not None:
                by_source.setdefault(job.source_id, []).append(job)
            elif job.payload is None:
                outcomes.failed[job.id] = "the job carries no document"
            else:
                upserts[job.id] = payload_document(job.payload)
        for source_id, synced in by_source.items():
            source = sources.get(source_id)
            if source is None:  # removed since: its waiting jobs went with it, these were already running
                outcomes.done.update((j.id, "source removed") for j in synced)
                continue
            async with translate_errors("reading a synced table"), self._pool.connection() as conn:
                rows = await sync.read_rows(conn, source, [j.external_id for j in synced])
            for job in synced:
                row = rows.get(job.external_id)
                if row is None or row.tenant != tenant:
                    deletes[job.id] = job.external_id
                else:
                    upserts[job.id] = Document(
                        external_id=row.key,
                        text=row.text or "",
                        title=row.title,
                        source=source.document_source,
                        metadata=row.metadata,
                    )
        return upserts, deletes

    async def _delete(self, tenant: str, collection: str, deletes: dict[int, str], outcomes: Outcomes) -> None:
        async with translate_errors("deleting documents"), tenant_transaction(self._pool, tenant) as scope:
            try:
                found = await db_catalog.get_collection(scope.conn, collection)
            except NotFoundError:
                outcomes.done.update((job_id, "absent") for job_id in deletes)
                return
            await db_catalog.delete_documents(scope, found, list(deletes.values()))
        outcomes.done.update((job_id, "deleted") for job_id in deletes)

    async def _upsert(self, tenant: str, collection: str, upserts: dict[int, Document], outcomes: Outcomes) -> None:
        report = await self._ingest(list(upserts.values()), collection, tenant)
        if not report.failures:
            outcomes.done.update((job_id, "written") for job_id in upserts)
            return
        # Which document failed: each again alone (those written already are unchanged now, and cost nothing).
        for job_id, doc in upserts.items():
            alone = await self._ingest([doc], collection, tenant)
            if alone.failures:
                outcomes.failed[job_id] = "; ".join(f.error for f in alone.failures)
            else:
                outcomes.done[job_id] = "written"


async def record(pool: Pool, worker: str, outcomes: Outcomes, retry: Retry) -> None:
    """Finish the jobs of a processed batch: done ones in one statement, each failure with its backoff."""
    async with translate_errors("recording jobs"), pool.connection() as conn, conn.transaction():
        await queue.complete(conn, worker, outcomes.done)
        for job_id, reason in outcomes.failed.items():
            await queue.fail(conn, worker, job_id, reason, max_attempts=retry.max_attempts, backoff_s=retry.backoff_s)
