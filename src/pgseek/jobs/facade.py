"""``seek.jobs``: the work queue of one ``AsyncSeek`` (or ``Seek``): enqueue changes, follow and manage jobs, point
collections at application tables, and run a worker (docs/freshness.md, decision 0025)."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pgseek.config import Settings
from pgseek.db import freshness, queue, sync
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.freshness import QueueStatus, WorkerStatus
from pgseek.db.queue import STATES, Job, NewJob
from pgseek.db.scope import tenant_transaction
from pgseek.db.sync import SyncSource
from pgseek.errors import InputError
from pgseek.jobs.process import Ingest, document_payload
from pgseek.jobs.worker import BatchCallback, Worker, WorkerOptions, WorkerReport
from pgseek.names import check_document_id, check_name
from pgseek.types import Document

T = TypeVar("T")
FINISHED = ("done", "failed")
WAIT_POLL_S = (0.02, 0.5)
"""First and longest pause between two reads of the jobs a caller waits for."""
MAX_LIST = 10_000


@dataclass(frozen=True, slots=True)
class QueueReport:
    """The queue of every collection that has jobs, and the workers alive now."""

    queues: tuple[QueueStatus, ...]
    workers: tuple[WorkerStatus, ...]


class AsyncJobs:
    """The work queue. ``collection`` and ``tenant`` default to PGSEEK_COLLECTION and PGSEEK_TENANT."""

    def __init__(self, settings: Settings, ready: Callable[[], Awaitable[Pool]], ingest: Ingest) -> None:
        self._settings = settings
        self._ready = ready
        self._ingest = ingest

    def _names(self, collection: str | None, tenant: str | None) -> tuple[str, str]:
        s = self._settings
        return (
            check_name(collection or s.collection, field="collection", what="collection name"),
            check_name(tenant or s.tenant, field="tenant", what="tenant"),
        )

    async def enqueue(
        self,
        documents: Iterable[Document] = (),
        *,
        deletes: Iterable[str] = (),
        collection: str | None = None,
        tenant: str | None = None,
    ) -> list[int]:
        """Queue documents to write and ids to delete in a tenant's collection; the job id of each, documents
        first, in the order given. Returns once the jobs are committed (a worker is woken by NOTIFY); the documents
        are searchable once their jobs are done (``wait``). A change to a document whose job still waits merges into
        that job: the same id comes back, and the newest change is the one written.

        This is the one way in for every source (HTTP, a watched folder, a broker, scripts); its signature stays.
        InputError, and nothing queued, for a bad collection, tenant or document id."""
        name, tenant_name = self._names(collection, tenant)
        docs = list(documents)
        gone = list(deletes)
        for doc in docs:
            check_document_id(doc.external_id, field="id")
        for external_id in gone:
            check_document_id(external_id, field="id")
        jobs = [NewJob("upsert", d.external_id, document_payload(d)) for d in docs]
        jobs += [NewJob("delete", external_id) for external_id in gone]
        pool = await self._ready()
        async with translate_errors("queueing jobs", field="documents"), tenant_transaction(pool, tenant_name) as scope:
            ids = await queue.enqueue(scope, name, jobs)
        return [ids[job.external_id] for job in jobs]

    async def get(self, ids: Sequence[int], *, tenant: str | None = None) -> list[Job]:
        """The tenant's jobs among ``ids`` (another tenant's, or purged ones, are left out), by id."""
        _, tenant_name = self._names(None, tenant)
        async with translate_errors("reading jobs"), tenant_transaction(await self._ready(), tenant_name) as scope:
            return await queue.tenant_jobs(scope, list(ids))

    async def wait(self, ids: Sequence[int], *, tenant: str | None = None, timeout: float = 30.0) -> list[Job]:
        """Wait until every one of the tenant's jobs ``ids`` is finished (done or failed), at most ``timeout``
        seconds; the jobs as they stand then. A done job's document is searchable."""
        deadline = time.monotonic() + timeout
        pause = WAIT_POLL_S[0]
        while True:
            jobs = await self.get(ids, tenant=tenant)
            if all(j.state in FINISHED for j in jobs) or time.monotonic() >= deadline:
                return jobs
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, WAIT_POLL_S[1])

    async def list(self, *, state: str | None = None, collection: str | None = None, limit: int = 50) -> list[Job]:
        """Jobs of every tenant, newest first (an operator's view)."""
        if state is not None and state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}, got {state!r}", field="state")
        if not 1 <= limit <= MAX_LIST:
            raise InputError(f"limit must be between 1 and {MAX_LIST}, got {limit}", field="limit")
        async with translate_errors("listing jobs"), (await self._ready()).connection() as conn:
            return await queue.list_jobs(conn, state=state, collection=collection, limit=limit)

    async def retry(self, ids: Sequence[int] | None = None, *, collection: str | None = None) -> builtins.list[int]:
        """Failed jobs (all, those of ``collection``, or ``ids``) back to the queue with fresh attempts; their ids."""
        async with translate_errors("retrying jobs"), (await self._ready()).connection() as conn:
            return await queue.retry_failed(conn, ids=ids, collection=collection)

    async def purge(
        self, *, older_than_s: float = 86_400.0, failed: bool = False, collection: str | None = None
    ) -> int:
        """Delete done jobs (and failed ones with ``failed``) finished more than ``older_than_s`` ago; how many."""
        if older_than_s < 0:
            raise InputError(f"older_than_s must be 0 or more, got {older_than_s}", field="older_than")
        states = ["done", "failed"] if failed else ["done"]
        async with translate_errors("purging jobs"), (await self._ready()).connection() as conn:
            return await queue.purge(conn, states=states, older_than_s=older_than_s, collection=collection)

    async def status(self, *, window_s: float = 900.0) -> QueueReport:
        """Per collection: pending, running and failed jobs, the oldest pending job's age, throughput and lag from
        change to searchable (p50, p99) over the last ``window_s`` seconds; and the live workers."""
        async with translate_errors("reading the queue"), (await self._ready()).connection() as conn:
            queues = await freshness.queue_status(conn, window_s=window_s)
            workers = await freshness.live_workers(conn)
        return QueueReport(tuple(queues), tuple(workers))

    # --- synced application tables --------------------------------------------------------------------------------

    async def sync_add(
        self,
        table: str,
        *,
        id_column: str,
        text_column: str,
        title_column: str | None = None,
        metadata_columns: Sequence[str] = (),
        tenant_column: str | None = None,
        collection: str | None = None,
        tenant: str | None = None,
    ) -> tuple[SyncSource, int]:
        """Keep ``collection`` current with ``table`` (in pgseek's database): install triggers on insert, update,
        delete and truncate, and queue the rows already there; the source and the jobs queued. ``tenant_column``:
        each row's tenant (``tenant`` for rows where it is null)."""
        name, tenant_name = self._names(collection, tenant)
        pool = await self._ready()
        async with translate_errors("adding a synced table"), pool.connection() as conn, conn.transaction():
            return await sync.add_source(
                conn,
                collection=name,
                tenant=tenant_name,
                table=table,
                id_column=id_column,
                text_column=text_column,
                title_column=title_column,
                metadata_columns=list(metadata_columns),
                tenant_column=tenant_column,
            )

    async def sync_list(self) -> builtins.list[SyncSource]:
        async with translate_errors("listing synced tables"), (await self._ready()).connection() as conn:
            return await sync.list_sources(conn)

    async def sync_remove(self, table: str, *, collection: str | None = None) -> builtins.list[SyncSource]:
        """Stop syncing ``table`` (into ``collection``, or into any): its triggers dropped, its jobs
        forgotten; the documents stay."""
        pool = await self._ready()
        async with translate_errors("removing a synced table"), pool.connection() as conn, conn.transaction():
            return await sync.remove_source(conn, table, collection)

    # --- workers --------------------------------------------------------------------------------------------------

    def worker_options(self, *, concurrency: int = 1, drain: bool = False) -> WorkerOptions:
        s = self._settings
        if not 1 <= concurrency <= 64:
            raise InputError(f"concurrency must be between 1 and 64, got {concurrency}", field="concurrency")
        return WorkerOptions(
            concurrency=concurrency,
            drain=drain,
            batch=s.job_batch,
            lease_s=s.job_lease_s,
            poll_s=s.worker_poll_s,
            heartbeat_s=s.worker_heartbeat_s,
            max_attempts=s.job_max_attempts,
            backoff_s=s.job_backoff_s,
        )

    async def work(
        self, *, concurrency: int = 1, drain: bool = False, on_batch: BatchCallback | None = None
    ) -> WorkerReport:
        """Run a worker in this process until cancelled (it then gives back the jobs it holds) or, with ``drain``,
        until nothing is queued. ``on_batch`` is called after each batch with the worker's name and outcomes."""
        options = self.worker_options(concurrency=concurrency, drain=drain)
        return await Worker(await self._ready(), self._ingest, options, on_batch=on_batch).run()


class Jobs:
    """``AsyncJobs``, synchronous (``Seek.jobs``)."""

    def __init__(self, core: AsyncJobs, run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._core = core
        self._run = run

    def enqueue(
        self,
        documents: Iterable[Document] = (),
        *,
        deletes: Iterable[str] = (),
        collection: str | None = None,
        tenant: str | None = None,
    ) -> list[int]:
        ids: list[int] = self._run(self._core.enqueue(documents, deletes=deletes, collection=collection, tenant=tenant))
        return ids

    def get(self, ids: Sequence[int], *, tenant: str | None = None) -> list[Job]:
        found: list[Job] = self._run(self._core.get(ids, tenant=tenant))
        return found

    def wait(self, ids: Sequence[int], *, tenant: str | None = None, timeout: float = 30.0) -> list[Job]:
        found: list[Job] = self._run(self._core.wait(ids, tenant=tenant, timeout=timeout))
        return found

    def list(self, *, state: str | None = None, collection: str | None = None, limit: int = 50) -> list[Job]:
        found: list[Job] = self._run(self._core.list(state=state, collection=collection, limit=limit))
        return found

    def retry(self, ids: Sequence[int] | None = None, *, collection: str | None = None) -> builtins.list[int]:
        found: list[int] = self._run(self._core.retry(ids, collection=collection))
        return found

    def purge(self, *, older_than_s: float = 86_400.0, failed: bool = False, collection: str | None = None) -> int:
        count: int = self._run(self._core.purge(older_than_s=older_than_s, failed=failed, collection=collection))
        return count

    def status(self, *, window_s: float = 900.0) -> QueueReport:
        report: QueueReport = self._run(self._core.status(window_s=window_s))
        return report

    def sync_add(
        self,
        table: str,
        *,
        id_column: str,
        text_column: str,
        title_column: str | None = None,
        metadata_columns: Sequence[str] = (),
        tenant_column: str | None = None,
        collection: str | None = None,
        tenant: str | None = None,
    ) -> tuple[SyncSource, int]:
        added: tuple[SyncSource, int] = self._run(
            self._core.sync_add(
                table,
                id_column=id_column,
                text_column=text_column,
                title_column=title_column,
                metadata_columns=metadata_columns,
                tenant_column=tenant_column,
                collection=collection,
                tenant=tenant,
            )
        )
        return added

    def sync_list(self) -> builtins.list[SyncSource]:
        found: list[SyncSource] = self._run(self._core.sync_list())
        return found

    def sync_remove(self, table: str, *, collection: str | None = None) -> builtins.list[SyncSource]:
        found: list[SyncSource] = self._run(self._core.sync_remove(table, collection=collection))
        return found

    def work(self, *, concurrency: int = 1, drain: bool = False, on_batch: BatchCallback | None = None) -> WorkerReport:
        report: WorkerReport = self._run(self._core.work(concurrency=concurrency, drain=drain, on_batch=on_batch))
        return report
