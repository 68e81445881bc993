"""Open pgseek's database: start the embedded server or use the URL, check pgvector, migrate, pool connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from pgseek.config import Settings
from pgseek.db import queries
from pgseek.db.migrate import migrate
from pgseek.db.server import EmbeddedServer
from pgseek.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailableError,
    DataRejectedError,
    PgvectorMissingError,
)

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]
MIN_PGVECTOR = (0, 5)
PGBOUNCER_PORT = "6432"
_INSTALL_HINT = (
    "install it on the server (Debian/Ubuntu: apt install postgresql-<major>-pgvector; others: "
    "https://github.com/pgvector/pgvector#installation), or unset PGSEEK_DATABASE_URL to use pgseek's embedded "
    "PostgreSQL, which bundles it"
)


def embedded_server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(
        settings.home,
        shared_buffers=settings.embedded_shared_buffers,
        maintenance_work_mem=settings.embedded_maintenance_work_mem,
    )


def resolve_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return check_url(settings.database_url)
    return embedded_server(settings).start()


_URL_HINT = (
    "give postgresql://user:password@host:5432/dbname (or libpq's 'host=... dbname=...'), or unset it to use the "
    "embedded server"
)


def check_url(url: str) -> str:
    """``url`` when libpq can read it; else a ConfigurationError saying what is wrong with PGSEEK_DATABASE_URL, so a
    typo is not reported as an unreachable server."""
    if "://" in url and not url.startswith(("postgresql://", "postgres://")):
        scheme = url.split("://", 1)[0][:20]
        raise ConfigurationError(f"PGSEEK_DATABASE_URL has the scheme {scheme!r}, not postgresql://: {_URL_HINT}")
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).replace(url, redact(url)).split())
        raise ConfigurationError(f"PGSEEK_DATABASE_URL is not a connection string ({reason}): {_URL_HINT}") from exc
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit()):
            raise ConfigurationError(f"PGSEEK_DATABASE_URL has the port {port[:20]!r}, not a number: {_URL_HINT}")
    return url


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


async def check_pgvector(conn: psycopg.AsyncConnection[Any]) -> None:
    cur = await conn.execute(queries.PGVECTOR_AVAILABILITY)
    row = await cur.fetchone()
    if row is None:
        raise PgvectorMissingError(f"this PostgreSQL server has no pgvector extension: {_INSTALL_HINT}")
    default_version, installed = row
    version = installed or default_version
    if _version(version) < MIN_PGVECTOR:
        action = "ALTER EXTENSION vector UPDATE" if installed else "upgrade the pgvector package"
        raise PgvectorMissingError(
            f"pgvector {version} is too old: pgseek needs 0.5 or newer (HNSW indexes); {action}, or {_INSTALL_HINT}"
        )


async def prepare_database(url: str) -> None:
    """Check pgvector and apply pending migrations (safe to run from several processes at once)."""
    try:
        # Never prepared: this one-shot connection may go through a transaction pooler, whatever the settings say.
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot connect to PostgreSQL at {redact(url)}: {exc}") from exc
    async with conn:
        await check_pgvector(conn)
        await migrate(conn)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await register_vector_async(conn)


def classify(exc: BaseException, doing: str, *, field: str | None = None) -> DatabaseError:
    """pgseek's error for a driver or pool failure: the one place that decides whose fault it was.

    psycopg's families decide, with one refinement: a program limit (SQLSTATE class 54, such as a tsvector over
    1 MB) is an OperationalError to psycopg, but the same document fails the same way again, so it is the input's
    fault. The message of a rejection is the server's primary message only: never the statement or its context;
    ``field`` (the request's part whose values the statement carried) goes with it.
    """
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | psycopg.errors.ProgramLimitExceeded):
        rejected = exc.diag.message_primary or (str(exc).splitlines() or [type(exc).__name__])[0]
        where = f" of the {field}" if field else ""
        return DataRejectedError(f"the database rejected the input{where} while {doing}: {rejected}", field=field)
    if isinstance(exc, psycopg.OperationalError | PoolTimeout | PoolClosed):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return DatabaseUnavailableError(f"database unavailable while {doing}: {reason}", reason=reason)
    failed = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
    return DatabaseError(f"database error while {doing}: {failed or type(exc).__name__}")


@asynccontextmanager
async def translate_errors(doing: str, *, field: str | None = None) -> AsyncIterator[None]:
    """Turn driver and pool failures into pgseek's errors (``classify``), so callers above db/ never see psycopg."""
    try:
        yield
    except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
        raise classify(exc, doing, field=field) from exc


def transaction_pooled(url: str, settings: Settings) -> bool:
    """True behind a transaction pooler: PGSEEK_POOLER=transaction, or the URL names PgBouncer's default port 6432.

    There, consecutive transactions of one client connection may run on different server connections, so no session
    state may be relied on: settings are SET LOCAL (db/scope.py) and server-side prepared statements are off.
    """
    if settings.pooler == "transaction":
        return True
    try:
        port = conninfo_to_dict(url).get("port")
    except psycopg.Error:
        return False
    return port is not None and str(port) == PGBOUNCER_PORT


async def open_pool(url: str, settings: Settings, *, wait: float = 30) -> Pool:
    """A pool that checks each connection before handing it out (a restarted server leaves dead ones behind), opens
    connections with a short timeout and lets a caller wait ``settings.pool_timeout`` seconds at most."""
    kwargs: dict[str, Any] = {"connect_timeout": settings.connect_timeout}
    if transaction_pooled(url, settings):
        kwargs["prepare_threshold"] = None
    pool: Pool = AsyncConnectionPool(
        url,
        kwargs=kwargs,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        configure=_configure,
        check=AsyncConnectionPool.check_connection,
        timeout=settings.pool_timeout,
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=wait)
    except Exception as exc:
        await pool.close()
        raise DatabaseUnavailableError(f"cannot open a connection pool to {redact(url)}: {exc}") from exc
    return pool


async def probe(url: str, settings: Settings) -> str | None:
    """None when the server accepts a connection and answers; else why not. Never waits past connect_timeout."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, prepare_threshold=None, connect_timeout=settings.connect_timeout
        )
        async with conn:
            await conn.execute(queries.PING)
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def redact(url: str) -> str:
    """Hide a password in a URL before it goes into an error message."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """Connections of the pool right now: open, idle, the ceiling, and callers waiting for one."""

    size: int
    available: int
    max_size: int
    waiting: int

    @property
    def in_use(self) -> int:
        return self.size - self.available


def pool_usage(pool: Pool) -> PoolUsage:
    stats = pool.get_stats()
    return PoolUsage(
        size=stats.get("pool_size", 0),
        available=stats.get("pool_available", 0),
        max_size=stats.get("pool_max", pool.max_size),
        waiting=stats.get("requests_waiting", 0),
    )
