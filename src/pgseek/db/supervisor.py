"""Keep a long-running process's database usable: notice an outage, fail fast through it, and come back at once.

``pgseek serve`` holds one pool for hours. When PostgreSQL dies, psycopg_pool alone keeps callers waiting for its
full timeout, reconnects with a backoff that grows to many seconds, and hands out connections the dead server left
behind. The supervisor instead:

- watches the server: the embedded postmaster's pid every tick (no connection), a probe connection every second
  and whenever a caller met an outage (``suspect``);
- while the database is down, refuses at once (``pool`` raises DatabaseUnavailableError) instead of queueing;
- restarts the embedded server when this process owns it (no PGSEEK_DATABASE_URL);
- the moment a probe succeeds, opens a fresh pool (no backoff inherited from the dead one) and serves again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pgseek.config import Settings
from pgseek.db import connect
from pgseek.db.connect import Pool
from pgseek.errors import DatabaseError, DatabaseUnavailableError

log = logging.getLogger("pgseek.db")

TICK_S = 0.1
PROBE_EVERY_S = 1.0


class Supervisor:
    """Owns the pool of one process once started; ``pool()`` is the only way to it."""

    def __init__(self, settings: Settings, url: str, pool: Pool) -> None:
        self._settings = settings
        self._url = url
        self._pool: Pool | None = pool
        self._server = connect.embedded_server(settings) if settings.embedded else None
        self._outage: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_probe = time.monotonic()

    @property
    def outage(self) -> str | None:
        """Why the database is unusable right now; None while it serves."""
        return self._outage

    @property
    def current(self) -> Pool | None:
        return self._pool

    def pool(self) -> Pool:
        if self._outage is not None or self._pool is None:
            raise DatabaseUnavailableError(self._unavailable_message(), reason=self._outage)
        return self._pool

    def _unavailable_message(self) -> str:
        action = "restarting the embedded server" if self._server is not None else "retrying"
        return f"database unavailable: {self._outage or 'not connected'}; {action}, try again in a moment"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="pgseek-db-supervisor")

    def suspect(self) -> None:
        """A caller met an outage: check now rather than at the next probe."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                problem = await self._check(probe=woken or time.monotonic() - self._last_probe >= PROBE_EVERY_S)
                if problem is not None:
                    await self._recover(problem)
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive any one failure, or nothing brings the database back
                log.exception("database supervisor")

    async def _check(self, *, probe: bool) -> str | None:
        if self._server is not None and not self._server.running():
            return "the embedded PostgreSQL stopped"
        if not probe:
            return None
        self._last_probe = time.monotonic()
        return await connect.probe(self._url, self._settings)

    async def _recover(self, problem: str) -> None:
        self._outage = problem
        down_since = time.monotonic()
        log.warning("database unavailable", extra={"fields": {"problem": problem}})
        old, self._pool = self._pool, None
        if old is not None:
            # Callers waiting for a connection fail now (PoolClosed) instead of at their timeout.
            await old.close(timeout=0)
        while True:
            if self._server is not None and not self._server.running():
                try:
                    self._url = await asyncio.to_thread(self._server.start)
                except DatabaseError as exc:
                    self._outage = f"the embedded PostgreSQL does not start: {exc}"
                    await asyncio.sleep(1.0)
                    continue
            problem_now = await connect.probe(self._url, self._settings)
            if problem_now is None:
                try:
                    pool = await connect.open_pool(self._url, self._settings, wait=self._settings.connect_timeout)
                except DatabaseUnavailableError as exc:
                    problem_now = str(exc)
                else:
                    self._pool, self._outage = pool, None
                    self._last_probe = time.monotonic()
                    took = time.monotonic() - down_since
                    log.warning("database back", extra={"fields": {"down_seconds": round(took, 3)}})
                    return
            self._outage = problem_now
            await asyncio.sleep(TICK_S)
