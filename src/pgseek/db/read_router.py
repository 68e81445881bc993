"""Send reads to streaming replicas, writes stay on the primary (decision 0029).

A ``ReadRouter`` holds one small pool per replica, opened on first use, and picks among the healthy ones in turn.
Read-your-writes: a read that must see a write (its commit LSN) goes to a replica that has replayed that far,
waiting in short polls up to ``read_wait_ms``, and otherwise to the primary. A background check measures each
replica's lag and takes it out of the rotation past ``max_replica_lag_s`` or when it does not answer; it is put
back when it answers and has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgseek.config import Settings
from pgseek.db.connect import Pool, check_url, embedded_server, open_pool, redact, translate_errors
from pgseek.db.replicas import PRIMARY_LSN, REPLICA_STATE, EmbeddedReplicas, lag_seconds
from pgseek.errors import DatabaseUnavailableError, QueryError
from pgseek.types import ReplicaLag

log = logging.getLogger("pgseek.db")

REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
CHECK_EVERY_S = 1.0
POLL_S = 0.005
_REPLICA_POOL_MAX = 4
_REPLICA_POOL_TIMEOUT_S = 2.0


def read_urls(settings: Settings, primary_url: str) -> list[str]:
    """The replicas to read from: PGSEEK_READ_URLS; else, on the embedded server, the embedded replicas running now
    (on the primary URL's database); else none."""
    if settings.read_url_list:
        return [check_url(url) for url in settings.read_url_list]
    if not settings.embedded:
        return []
    dbname = conninfo_to_dict(primary_url).get("dbname") or "postgres"
    return [make_conninfo(uri, dbname=dbname) for uri in EmbeddedReplicas(embedded_server(settings)).running_uris()]


def check_lsn(lsn: str | None) -> str | None:
    """``lsn`` when it reads as a WAL position (``16/B374D848``, as an ingest returns it); else a QueryError."""
    if lsn is not None and not _LSN.match(lsn):
        raise QueryError(
            f"min_lsn {lsn[:40]!r} is not a WAL position: give an ingest's commit_lsn, such as '0/1A2B3C4'",
            field="min_lsn",
        )
    return lsn


async def commit_lsn(pool: Pool) -> str:
    """The primary's WAL position now: past the commit of every transaction that committed before the call."""
    async with translate_errors("reading the commit position"), pool.connection() as conn:
        cur = await conn.execute(PRIMARY_LSN)
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


class _Replica:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: Pool | None = None
        self.healthy = True
        self.lag_bytes: int | None = None
        self.lag_seconds: float | None = None
        self.problem: str | None = None
        self.current_at: float | None = None
        """When a check last found it fully replayed (monotonic)."""
        self.lock = asyncio.Lock()


@dataclass(frozen=True, slots=True)
class ReadTarget:
    """Where one read runs: a pool, and the replica behind it (None: the primary)."""

    pool: Pool
    replica: str | None


class ReadRouter:
    def __init__(self, settings: Settings, urls: list[str], primary: Callable[[], Awaitable[Pool]]) -> None:
        self._settings = settings.model_copy(
            update={
                "pool_min_size": 0,
                "pool_max_size": _REPLICA_POOL_MAX,
                "pool_timeout": min(settings.pool_timeout, _REPLICA_POOL_TIMEOUT_S),
            }
        )
        self._replicas = [_Replica(url) for url in urls]
        self._primary = primary
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self._replicas]

    def start(self) -> None:
        if self._task is None and self._replicas:
            self._task = asyncio.create_task(self._watch(), name="pgseek-read-router")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for replica in self._replicas:
            if replica.pool is not None:
                await replica.pool.close()
                replica.pool = None

    async def target(self, min_lsn: str | None = None) -> ReadTarget:
        """A healthy replica in turn that has replayed ``min_lsn`` (waiting up to read_wait_ms); else the primary."""
        healthy = self._in_turn()
        deadline = time.monotonic() + self._settings.read_wait_ms / 1000
        while healthy:
            for replica in healthy:
                pool = await self._pool(replica)
                if pool is not None and (min_lsn is None or await self._replayed(replica, pool, min_lsn)):
                    return ReadTarget(pool, replica.url)
            healthy = [r for r in healthy if r.healthy]
            if min_lsn is None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        return ReadTarget(await self._primary(), None)

    def failed(self, url: str, problem: str) -> None:
        """A read on this replica met a connection failure: out of the rotation until a check finds it well."""
        for replica in self._replicas:
            if replica.url == url:
                self._out(replica, problem)

    def lags(self) -> list[ReplicaLag]:
        return [ReplicaLag(redact(r.url), r.healthy, r.lag_bytes, r.lag_seconds, r.problem) for r in self._replicas]

    def _in_turn(self) -> list[_Replica]:
        healthy = [r for r in self._replicas if r.healthy]
        if not healthy:
            return []
        first = next(self._turn) % len(healthy)
        return healthy[first:] + healthy[:first]

    async def _pool(self, replica: _Replica) -> Pool | None:
        if replica.pool is not None:
            return replica.pool
        async with replica.lock:
            if replica.pool is None:
                try:
                    replica.pool = await open_pool(replica.url, self._settings, wait=self._settings.connect_timeout)
                except DatabaseUnavailableError as exc:
                    self._out(replica, str(exc))
        return replica.pool

    async def _replayed(self, replica: _Replica, pool: Pool, min_lsn: str) -> bool:
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(REPLAYED, (min_lsn,))
                row = await cur.fetchone()
        except psycopg.DataError:
            raise
        except Exception as exc:  # psycopg or pool failure: this replica is not answering
            self._out(replica, " ".join(str(exc).split()) or type(exc).__name__)
            return False
        return bool(row and row[0])

    def _out(self, replica: _Replica, problem: str) -> None:
        if replica.healthy:
            log.warning("replica out of rotation", extra={"fields": {"replica": redact(replica.url), "why": problem}})
        replica.healthy, replica.problem = False, problem

    async def check(self) -> None:
        """Measure every replica's lag against the primary's WAL position; set each in or out of the rotation."""
        try:
            async with (await self._primary()).connection() as conn:
                cur = await conn.execute(PRIMARY_LSN)
                row = await cur.fetchone()
        except Exception:  # the primary's own outage is the supervisor's business; the replicas wait for the next
            return
        primary_lsn = str(row[0]) if row else None
        await asyncio.gather(*(self._check_one(r, primary_lsn) for r in self._replicas))

    async def _check_one(self, replica: _Replica, primary_lsn: str | None) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                replica.url, autocommit=True, prepare_threshold=None, connect_timeout=self._settings.connect_timeout
            )
            async with conn:
                cur = await conn.execute(REPLICA_STATE, (primary_lsn,))
                row = await cur.fetchone()
        except psycopg.Error as exc:
            replica.lag_bytes = replica.lag_seconds = None
            self._out(replica, " ".join(str(exc).split()) or type(exc).__name__)
            if replica.pool is not None:  # its connections are dead: a fresh pool when it returns
                old, replica.pool = replica.pool, None
                await old.close(timeout=0)
            return
        lag_bytes, lag_s = lag_seconds(row)
        now = time.monotonic()
        if lag_bytes == 0:
            replica.current_at = now
        elif lag_s is not None and replica.current_at is not None:
            # After a quiet spell the last replayed transaction is old, though the replica was current a check ago.
            lag_s = min(lag_s, now - replica.current_at)
        replica.lag_bytes, replica.lag_seconds = lag_bytes, lag_s
        limit = self._settings.max_replica_lag_s
        if lag_s is not None and lag_s > limit:
            self._out(replica, f"{lag_s:.1f} s behind the primary (PGSEEK_MAX_REPLICA_LAG_S={limit:g})")
        elif lag_bytes is None:
            self._out(replica, "not replaying the primary's WAL")
        else:
            if not replica.healthy:
                log.warning("replica back in rotation", extra={"fields": {"replica": redact(replica.url)}})
            replica.healthy, replica.problem = True, None

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the check must outlive any one failure, or no replica ever comes back
                log.exception("replica check")
            await asyncio.sleep(CHECK_EVERY_S)
