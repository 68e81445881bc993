"""How current the collections are: the queue per collection (pending, oldest pending, failed, throughput, lag from
change to searchable) and the live workers' heartbeats (decision 0025 defines the lag)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from pgseek.db.scope import Conn

LIVE_WORKER_S = 30.0
"""A worker whose last beat is older than this is not counted as live."""


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One collection's queue, every tenant together (an operator's view)."""

    collection: str
    pending: int
    running: int
    failed: int
    oldest_pending_s: float | None
    """Age of the oldest change still waiting (pending or running)."""
    done_recent: int
    """Jobs finished in the window."""
    throughput_per_s: float
    """Jobs finished per second over the window."""
    lag_p50_s: float | None
    """Seconds from a change being queued (its commit) to its document being searchable, over the window."""
    lag_p99_s: float | None


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    id: str
    host: str
    pid: int
    concurrency: int
    started_at: datetime
    beat_at: datetime
    jobs_done: int
    jobs_failed: int
    running: int


QUEUE_STATUS = """
SELECT collection,
       count(*) FILTER (WHERE state = 'pending')::int AS pending,
       count(*) FILTER (WHERE state = 'running')::int AS running,
       count(*) FILTER (WHERE state = 'failed')::int AS failed,
       extract(epoch FROM clock_timestamp() - min(enqueued_at) FILTER (WHERE state IN ('pending', 'running')))::float8
           AS oldest_pending_s,
       count(*) FILTER (WHERE state = 'done' AND w.recent)::int AS done_recent,
       (count(*) FILTER (WHERE state = 'done' AND w.recent) / %(window_s)s::float8) AS throughput_per_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - enqueued_at))
           FILTER (WHERE state = 'done' AND w.recent AND outcome IS DISTINCT FROM 'superseded') AS lag_p50_s,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - enqueued_at))
           FILTER (WHERE state = 'done' AND w.recent AND outcome IS DISTINCT FROM 'superseded') AS lag_p99_s
FROM jobs, LATERAL (SELECT finished_at > clock_timestamp() - make_interval(secs => %(window_s)s) AS recent) w
GROUP BY collection ORDER BY collection"""
BEAT = """
INSERT INTO workers (id, host, pid, concurrency) VALUES (%(id)s, %(host)s, %(pid)s, %(concurrency)s)
ON CONFLICT (id) DO UPDATE SET beat_at = now(), jobs_done = %(done)s, jobs_failed = %(failed)s"""
FORGET_WORKER = "DELETE FROM workers WHERE id = %s"
# Workers silent for an hour are gone for good: forgotten, so that the table stays small.
LIVE_WORKERS = """
WITH gone AS (DELETE FROM workers WHERE beat_at < now() - interval '1 hour')
SELECT w.id, w.host, w.pid, w.concurrency, w.started_at, w.beat_at, w.jobs_done, w.jobs_failed,
       (SELECT count(*)::int FROM jobs j WHERE j.state = 'running' AND j.worker = w.id) AS running
FROM workers w WHERE w.beat_at > now() - make_interval(secs => %s) ORDER BY w.started_at"""


async def queue_status(conn: Conn, *, window_s: float = 900.0) -> list[QueueStatus]:
    """Every collection that has jobs, with throughput and lag over the last ``window_s`` seconds."""
    async with conn.cursor(row_factory=class_row(QueueStatus)) as cur:
        await cur.execute(QUEUE_STATUS, {"window_s": window_s})
        return list(await cur.fetchall())


async def beat(conn: Conn, worker: str, *, host: str, pid: int, concurrency: int, done: int, failed: int) -> None:
    values = {"id": worker, "host": host, "pid": pid, "concurrency": concurrency, "done": done, "failed": failed}
    await conn.execute(BEAT, values)


async def forget_worker(conn: Conn, worker: str) -> None:
    await conn.execute(FORGET_WORKER, (worker,))


async def live_workers(conn: Conn, *, within_s: float = LIVE_WORKER_S) -> list[WorkerStatus]:
    async with conn.cursor(row_factory=class_row(WorkerStatus)) as cur:
        await cur.execute(LIVE_WORKERS, (within_s,))
        return list(await cur.fetchall())
