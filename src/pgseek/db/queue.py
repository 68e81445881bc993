"""The jobs table (migration 0013, decision 0025): enqueue, claim with a lease, finish, and what is in the queue.

Enqueueing runs in the tenant's scope (row-level security checks the tenant of every job written); claiming and
finishing are the worker's, across tenants, each a short transaction of its own: nothing stays locked while a model
embeds. A worker's claim is fenced by its name: a job whose lease expired and was claimed again is no longer the
first worker's to finish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from pgseek.db.connect import Pool, classify
from pgseek.db.scope import Conn, TenantConn

JobKind = Literal["upsert", "delete"]
JobState = Literal["pending", "running", "done", "failed"]
STATES: tuple[JobState, ...] = ("pending", "running", "done", "failed")
LISTEN = "LISTEN pgseek_jobs"


@dataclass(frozen=True, slots=True)
class NewJob:
    """One change to bring into a collection: ``upsert`` the document (``payload``: the JSON record the HTTP API
    ingests, ``{"id", "text", "title", "source", "metadata"}``; None for a synced table's row, read when the job
    runs) or ``delete`` the document ``external_id``."""

    kind: JobKind
    external_id: str
    payload: dict[str, Any] | None = None
    source_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    tenant_id: str
    collection: str
    kind: str
    external_id: str
    payload: dict[str, Any] | None
    source_id: int | None
    state: str
    attempts: int
    run_after: datetime
    lease_until: datetime | None
    worker: str | None
    error: str | None
    outcome: str | None
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_COLUMNS = """id, tenant_id, collection, kind, external_id, payload, source_id, state, attempts, run_after, lease_until,
worker, error, outcome, enqueued_at, started_at, finished_at"""

# A newer change to a document whose job still waits merges into that job: its kind and payload replace the old
# ones, its enqueued_at (the oldest change not yet searchable) stays, and a backoff after failures starts over.
ENQUEUE = """
INSERT INTO jobs AS j (tenant_id, collection, kind, external_id, payload, source_id)
SELECT %(tenant)s, %(collection)s, k, e, p, s
FROM unnest(%(kinds)s::text[], %(ids)s::text[], %(payloads)s::jsonb[], %(sources)s::int[]) AS t (k, e, p, s)
ON CONFLICT (tenant_id, collection, external_id) WHERE state = 'pending'
DO UPDATE SET kind = excluded.kind, payload = excluded.payload, source_id = excluded.source_id, attempts = 0,
              run_after = clock_timestamp(), error = NULL
RETURNING id, external_id"""

# Jobs whose worker died (or stalled past its lease): back to pending, or failed once their attempts are spent, or
# done when a newer change to the same document waits (that job will write it).
REAP = """
WITH expired AS (
    SELECT id FROM jobs WHERE state = 'running' AND lease_until < clock_timestamp()
    ORDER BY id FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET
    state = CASE
        WHEN EXISTS (SELECT FROM jobs p WHERE p.state = 'pending' AND p.tenant_id = j.tenant_id
                     AND p.collection = j.collection AND p.external_id = j.external_id) THEN 'done'
        WHEN j.attempts >= %(max_attempts)s THEN 'failed'
        ELSE 'pending' END,
    outcome = CASE
        WHEN EXISTS (SELECT FROM jobs p WHERE p.state = 'pending' AND p.tenant_id = j.tenant_id
                     AND p.collection = j.collection AND p.external_id = j.external_id) THEN 'superseded'
        ELSE NULL END,
    error = 'the lease of worker ' || coalesce(j.worker, '?') || ' expired (it died or stalled)',
    finished_at = CASE WHEN j.attempts >= %(max_attempts)s THEN clock_timestamp() END,
    lease_until = NULL, worker = NULL
FROM expired WHERE j.id = expired.id
RETURNING j.id"""

# The oldest due jobs, skipping those another worker holds and documents another worker is writing (the newer
# change waits until the older one is written: changes land in order).
CLAIM = f"""
WITH picked AS (
    SELECT id FROM jobs j
    WHERE state = 'pending' AND run_after <= clock_timestamp()
      AND NOT EXISTS (SELECT FROM jobs r WHERE r.state = 'running' AND r.tenant_id = j.tenant_id
                      AND r.collection = j.collection AND r.external_id = j.external_id)
    ORDER BY run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, worker = %(worker)s, started_at = clock_timestamp(),
                  lease_until = clock_timestamp() + make_interval(secs => %(lease_s)s)
FROM picked WHERE j.id = picked.id
RETURNING {_COLUMNS.replace("id,", "j.id,", 1)}"""

RENEW = """
UPDATE jobs SET lease_until = clock_timestamp() + make_interval(secs => %(lease_s)s)
WHERE state = 'running' AND worker = %(worker)s"""

COMPLETE = """
UPDATE jobs j SET state = 'done', outcome = t.outcome, error = NULL, finished_at = clock_timestamp(),
                  lease_until = NULL
FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[]) AS t (id, outcome)
WHERE j.id = t.id AND j.state = 'running' AND j.worker = %(worker)s
RETURNING j.id"""

# A failure: tried again after an exponential backoff, or failed once the attempts are spent; superseded (done)
# when a newer change to the document already waits.
FAIL = """
UPDATE jobs j SET
    state = CASE WHEN s.newer THEN 'done' WHEN j.attempts >= %(max_attempts)s THEN 'failed' ELSE 'pending' END,
    outcome = CASE WHEN s.newer THEN 'superseded' END,
    error = %(error)s,
    run_after = clock_timestamp() + make_interval(secs => %(backoff_s)s * power(2, greatest(j.attempts - 1, 0))),
    finished_at = CASE WHEN s.newer OR j.attempts >= %(max_attempts)s THEN clock_timestamp() END,
    lease_until = NULL, worker = CASE WHEN s.newer OR j.attempts >= %(max_attempts)s THEN j.worker END
FROM (SELECT EXISTS (SELECT FROM jobs p, jobs me WHERE me.id = %(id)s AND p.state = 'pending'
                     AND p.tenant_id = me.tenant_id AND p.collection = me.collection
                     AND p.external_id = me.external_id) AS newer) AS s
WHERE j.id = %(id)s AND j.state = 'running' AND j.worker = %(worker)s
RETURNING j.state"""

# A worker stopping: its jobs go back as they were, the attempt not counted.
RELEASE = """
UPDATE jobs j SET
    state = CASE WHEN EXISTS (SELECT FROM jobs p WHERE p.state = 'pending' AND p.tenant_id = j.tenant_id
                              AND p.collection = j.collection AND p.external_id = j.external_id)
            THEN 'done' ELSE 'pending' END,
    outcome = CASE WHEN EXISTS (SELECT FROM jobs p WHERE p.state = 'pending' AND p.tenant_id = j.tenant_id
                                AND p.collection = j.collection AND p.external_id = j.external_id)
              THEN 'superseded' END,
    attempts = greatest(j.attempts - 1, 0), run_after = clock_timestamp(), lease_until = NULL, worker = NULL
WHERE j.state = 'running' AND j.worker = %(worker)s AND (%(ids)s::bigint[] IS NULL OR j.id = ANY (%(ids)s))
RETURNING j.id"""

GET_JOBS = f"SELECT {_COLUMNS} FROM jobs WHERE id = ANY (%s) ORDER BY id"
LIST_JOBS = f"""
SELECT {_COLUMNS} FROM jobs
WHERE (%(state)s::text IS NULL OR state = %(state)s) AND (%(collection)s::text IS NULL OR collection = %(collection)s)
ORDER BY id DESC LIMIT %(limit)s"""
RETRY_FAILED = """
UPDATE jobs j SET state = 'pending', attempts = 0, run_after = clock_timestamp(), finished_at = NULL, worker = NULL
WHERE state = 'failed' AND (%(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s))
  AND (%(collection)s::text IS NULL OR collection = %(collection)s)
  AND NOT EXISTS (SELECT FROM jobs p WHERE p.state = 'pending' AND p.tenant_id = j.tenant_id
                  AND p.collection = j.collection AND p.external_id = j.external_id)
RETURNING id"""
PURGE = """
DELETE FROM jobs
WHERE state = ANY (%(states)s) AND finished_at < clock_timestamp() - make_interval(secs => %(older_than_s)s)
  AND (%(collection)s::text IS NULL OR collection = %(collection)s)"""
# A running job counts too: its lease expires (its worker died) or it finishes; either way it is not done yet.
NEXT_DUE = """
SELECT min(CASE WHEN state = 'pending' THEN run_after ELSE lease_until END) - clock_timestamp() AS wait
FROM jobs WHERE state IN ('pending', 'running')"""


def _unique(jobs: Sequence[NewJob]) -> list[NewJob]:
    """The last change of each document: one statement cannot merge into the same pending job twice."""
    return list({job.external_id: job for job in jobs}.values())


async def enqueue(scope: TenantConn, collection: str, jobs: Sequence[NewJob]) -> dict[str, int]:
    """Queue changes to the scope tenant's ``collection``, in the caller's transaction (committed, they wake the
    workers: NOTIFY pgseek_jobs); the job id of each external id. A change to a document whose job still waits
    merges into that job (same id)."""
    unique = _unique(jobs)
    if not unique:
        return {}
    values = {
        "tenant": scope.tenant,
        "collection": collection,
        "kinds": [j.kind for j in unique],
        "ids": [j.external_id for j in unique],
        "payloads": [None if j.payload is None else Jsonb(j.payload) for j in unique],
        "sources": [j.source_id for j in unique],
    }
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ENQUEUE, values)
        return {str(r["external_id"]): int(r["id"]) for r in await cur.fetchall()}


async def reap(conn: Conn, *, max_attempts: int) -> int:
    """Return the jobs of dead workers (lease expired) to the queue; how many."""
    cur = await conn.execute(REAP, {"max_attempts": max_attempts})
    return len(await cur.fetchall())


async def claim(conn: Conn, worker: str, *, limit: int, lease_s: float) -> list[Job]:
    """Lease up to ``limit`` due jobs to ``worker`` for ``lease_s`` seconds (run in a short transaction)."""
    async with conn.cursor(row_factory=class_row(Job)) as cur:
        await cur.execute(CLAIM, {"limit": limit, "worker": worker, "lease_s": lease_s})
        return sorted(await cur.fetchall(), key=lambda j: j.id)


async def renew(conn: Conn, worker: str, *, lease_s: float) -> None:
    """Extend the lease of every job ``worker`` holds."""
    await conn.execute(RENEW, {"worker": worker, "lease_s": lease_s})


async def complete(conn: Conn, worker: str, outcomes: dict[int, str]) -> set[int]:
    """Mark jobs done with their outcome (written, unchanged, deleted...); the ids ``worker`` still held."""
    if not outcomes:
        return set()
    values = {"ids": list(outcomes), "outcomes": list(outcomes.values()), "worker": worker}
    cur = await conn.execute(COMPLETE, values)
    return {int(r[0]) for r in await cur.fetchall()}


async def fail(conn: Conn, worker: str, job_id: int, error: str, *, max_attempts: int, backoff_s: float) -> str | None:
    """Record a failed attempt: the job's new state (pending to try again, failed, done when superseded), or None
    when ``worker`` no longer held it."""
    values = {"id": job_id, "worker": worker, "error": error, "max_attempts": max_attempts, "backoff_s": backoff_s}
    cur = await conn.execute(FAIL, values)
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def release(conn: Conn, worker: str, ids: Sequence[int] | None = None) -> int:
    """Give back jobs ``worker`` holds (all, or ``ids``) without counting the attempt; how many."""
    cur = await conn.execute(RELEASE, {"worker": worker, "ids": None if ids is None else list(ids)})
    return len(await cur.fetchall())


async def next_due_s(conn: Conn) -> float | None:
    """Seconds until the next pending job is due, or a running job's lease expires (negative: overdue); None when
    nothing is pending or running."""
    cur = await conn.execute(NEXT_DUE)
    row = await cur.fetchone()
    return None if row is None or row[0] is None else float(row[0].total_seconds())


async def tenant_jobs(scope: TenantConn, ids: Sequence[int]) -> list[Job]:
    """The scope tenant's jobs among ``ids`` (another tenant's are not seen)."""
    async with scope.conn.cursor(row_factory=class_row(Job)) as cur:
        await cur.execute(GET_JOBS, (list(ids),))
        return list(await cur.fetchall())


async def list_jobs(conn: Conn, *, state: str | None, collection: str | None, limit: int) -> list[Job]:
    """Newest first, every tenant's (an operator's view)."""
    async with conn.cursor(row_factory=class_row(Job)) as cur:
        await cur.execute(LIST_JOBS, {"state": state, "collection": collection, "limit": limit})
        return list(await cur.fetchall())


async def retry_failed(conn: Conn, *, ids: Sequence[int] | None, collection: str | None) -> list[int]:
    """Failed jobs back to pending, attempts reset; the ids requeued."""
    cur = await conn.execute(RETRY_FAILED, {"ids": None if ids is None else list(ids), "collection": collection})
    return [int(r[0]) for r in await cur.fetchall()]


async def purge(conn: Conn, *, states: Sequence[str], older_than_s: float, collection: str | None) -> int:
    """Delete finished jobs (``states``: done, failed) finished more than ``older_than_s`` ago; how many."""
    values = {"states": list(states), "older_than_s": older_than_s, "collection": collection}
    cur = await conn.execute(PURGE, values)
    return cur.rowcount


@asynccontextmanager
async def notifications(pool: Pool) -> AsyncIterator[AsyncIterator[None]]:
    """A connection of its own that LISTENs on pgseek_jobs: iterate to wait for the next notification (one per
    committed batch of jobs). DatabaseUnavailableError when it cannot connect; polling stands in meanwhile."""
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    try:
        conn = await psycopg.AsyncConnection.connect(str(pool.conninfo), **{**kwargs, "autocommit": True})
    except psycopg.OperationalError as exc:
        raise classify(exc, "listening for jobs") from exc
    async with conn:
        await conn.execute(LISTEN)

        async def wake_ups() -> AsyncIterator[None]:
            try:
                async for _ in conn.notifies():
                    yield None
            except psycopg.Error as exc:
                raise classify(exc, "listening for jobs") from exc

        yield wake_ups()
