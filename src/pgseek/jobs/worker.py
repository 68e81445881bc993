"""``pgseek worker``: slots that claim jobs and process them, woken by LISTEN/NOTIFY with polling as the fallback
(a notification sent while no one listens is lost), a heartbeat that renews the leases of the jobs held and returns
those of dead workers to the queue, and a clean stop: cancelled (SIGTERM, Ctrl-C), a worker gives back what it holds.

Claiming and finishing are short transactions; no transaction is open while the model embeds (decision 0025).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from pgseek.db import freshness, queue
from pgseek.db.connect import Pool, translate_errors
from pgseek.errors import DatabaseUnavailableError, IngestInterruptedError, PgseekError
from pgseek.jobs.process import Ingest, Outcomes, Processor, Retry, record

log = logging.getLogger("pgseek.worker")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    concurrency: int = 1
    """Slots: batches processed at once (each claims its own)."""
    drain: bool = False
    """Process what is queued (jobs waiting for a retry included), then stop."""
    batch: int = 32
    lease_s: float = 60.0
    poll_s: float = 2.0
    heartbeat_s: float = 5.0
    max_attempts: int = 5
    backoff_s: float = 2.0


@dataclass(frozen=True, slots=True)
class WorkerReport:
    worker: str
    jobs_done: int
    jobs_failed: int
    """Failed attempts (retried later, or failed for good)."""
    seconds: float
    stopped: bool
    """Stopped by a cancellation (SIGTERM, Ctrl-C) rather than by draining the queue."""
    released: int = 0
    """Jobs given back to the queue on stopping."""


BatchCallback = Callable[[str, Outcomes], None]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Create, then ``await run()``; it returns when drained, or when cancelled (after giving its jobs back)."""

    def __init__(
        self,
        pool: Pool,
        ingest: Ingest,
        options: WorkerOptions,
        *,
        name: str | None = None,
        on_batch: BatchCallback | None = None,
    ) -> None:
        self.name = name or worker_name()
        self._pool = pool
        self._processor = Processor(pool, ingest)
        self._options = options
        self._retry = Retry(options.max_attempts, options.backoff_s)
        self._on_batch = on_batch or (lambda _worker, _outcomes: None)
        self._wakes: list[asyncio.Event] = []
        self._done = 0
        self._failed = 0

    async def run(self) -> WorkerReport:
        started = time.perf_counter()
        stopped = False
        released = 0
        await self._beat()
        background = [
            asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
            asyncio.create_task(self._listen(), name="worker-listen"),
        ]
        try:
            async with asyncio.TaskGroup() as slots:
                for i in range(self._options.concurrency):
                    slots.create_task(self._slot(), name=f"worker-slot-{i}")
        except asyncio.CancelledError:
            stopped = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            released = await self._give_back()
        return WorkerReport(self.name, self._done, self._failed, time.perf_counter() - started, stopped, released)

    async def _give_back(self) -> int:
        """What this worker holds goes back to the queue, the attempt not counted; it leaves the live list."""
        try:
            async with translate_errors("releasing jobs"), self._pool.connection() as conn:
                released = await queue.release(conn, self.name)
                await freshness.forget_worker(conn, self.name)
                return released
        except PgseekError as exc:  # the leases expire and the jobs come back all the same
            log.warning("could not give jobs back: %s", exc)
            return 0

    async def _slot(self) -> None:
        wake = asyncio.Event()
        self._wakes.append(wake)
        while True:
            try:
                jobs = await self._claim()
            except DatabaseUnavailableError as exc:
                log.warning("claiming jobs: %s", exc)
                await self._sleep(wake, self._options.poll_s)
                continue
            if jobs:
                await self._process(jobs)
                continue
            wait = await self._idle_wait()
            if wait is None:
                return
            await self._sleep(wake, wait)

    async def _idle_wait(self) -> float | None:
        """How long to wait for work now that none is due; None when draining and nothing is left."""
        async with translate_errors("reading the queue"), self._pool.connection() as conn:
            due = await queue.next_due_s(conn)
        if due is None:
            return None if self._options.drain else self._options.poll_s
        return min(max(due, 0.01), self._options.poll_s)

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

    async def _claim(self) -> list[queue.Job]:
        o = self._options
        async with translate_errors("claiming jobs"), self._pool.connection() as conn:
            async with conn.transaction():
                await queue.reap(conn, max_attempts=o.max_attempts)
            async with conn.transaction():
                return await queue.claim(conn, self.name, limit=o.batch, lease_s=o.lease_s)

    async def _process(self, jobs: list[queue.Job]) -> None:
        try:
            outcomes = await self._processor.process(jobs)
        except IngestInterruptedError:
            # Cancelled mid-batch: the groups committed stay; the jobs go back (run again, they write nothing new).
            raise asyncio.CancelledError from None
        except PgseekError as exc:
            # The whole batch failed (the model, the database, a conflict): each job is tried again later.
            log.warning("a batch of %d jobs failed: %s", len(jobs), exc)
            outcomes = Outcomes({}, {job.id: str(exc) for job in jobs})
        await record(self._pool, self.name, outcomes, self._retry)
        self._done += len(outcomes.done)
        self._failed += len(outcomes.failed)
        self._on_batch(self.name, outcomes)

    async def _beat(self) -> None:
        o = self._options
        async with translate_errors("beating"), self._pool.connection() as conn:
            await freshness.beat(
                conn,
                self.name,
                host=socket.gethostname(),
                pid=os.getpid(),
                concurrency=o.concurrency,
                done=self._done,
                failed=self._failed,
            )
            await queue.renew(conn, self.name, lease_s=o.lease_s)
            await queue.reap(conn, max_attempts=o.max_attempts)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._options.heartbeat_s)
            try:
                await self._beat()
            except PgseekError as exc:
                log.warning("heartbeat: %s", exc)

    async def _listen(self) -> None:
        while True:
            try:
                async with queue.notifications(self._pool) as wake_ups:
                    async for _ in wake_ups:
                        for wake in self._wakes:
                            wake.set()
            except PgseekError as exc:
                log.warning("listening for jobs (polling meanwhile): %s", exc)
            await asyncio.sleep(self._options.poll_s)
