"""The one way into a tenant's rows: ``tenant_transaction`` owns a transaction that runs as the application role
with the tenant set, and hands out a ``TenantConn``, the only connection type the functions that read or delete tenant
data accept. Forgetting the scope is a type error (mypy), not a leak.

Row-level security (migration 0002) does the filtering: the role ``pgseek_app`` is neither a superuser nor the
tables' owner, so the policies keyed on ``pgseek.tenant`` apply to it even on the embedded server. Both settings are
transaction-local (``SET LOCAL``, decision 0030), so nothing outlives the transaction, behind PgBouncer too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from pgseek.db import queries
from pgseek.db.connect import Pool
from pgseek.errors import DatabaseError

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class TenantConn:
    """A connection inside a transaction scoped to ``tenant``: made only by ``tenant_transaction``."""

    conn: Conn
    tenant: str


@asynccontextmanager
async def tenant_transaction(pool: Pool, tenant: str, *, snapshot: bool = False) -> AsyncIterator[TenantConn]:
    """A pooled connection in a new transaction that sees and changes only ``tenant``'s rows.

    ``snapshot``: a read-only REPEATABLE READ transaction, so that every statement in it reads the same committed
    state (hybrid search runs both legs in one, decision 0008).
    """
    async with pool.connection() as conn, conn.transaction():
        if snapshot:
            await conn.execute(queries.READ_ONLY_REPEATABLE_READ)  # must come before any other statement
        yield await enter_tenant(conn, tenant)


async def enter_tenant(conn: Conn, tenant: str) -> TenantConn:
    """Scope a transaction the caller already holds to ``tenant``: the ingest claims connection, a probe that times
    many one-query transactions on one connection, tests of the policies themselves. Prefer ``tenant_transaction``,
    which owns its transaction."""
    await conn.execute(queries.tenant_scope(tenant))
    return TenantConn(conn, tenant)


@asynccontextmanager
async def claims_scope(pool: Pool, tenant: str) -> AsyncIterator[TenantConn]:
    """A connection of its own, scoped to ``tenant``, for one ingest run's claims (``writes.claim_documents``) and
    the hash checks made under them.

    Outside the pool, because it is held for the whole run while the run takes pool connections to write: runs
    holding every pooled connection would wait on each other for ever. It stays in one transaction (a transaction
    pooler then keeps it on one server connection; each statement still reads a fresh snapshot, READ COMMITTED).
    Its claims go when it is done, whatever happened, before the connection closes (behind a transaction pooler,
    the server connection outlives it).
    """
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}  # open_pool gives a dict; the type allows more
    try:
        conn = await psycopg.AsyncConnection.connect(str(pool.conninfo), **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot open a connection for ingest claims: {exc}") from exc
    async with conn:
        try:
            yield await enter_tenant(conn, tenant)
        finally:
            await _release_claims(conn)


async def _release_claims(conn: Conn) -> None:
    if conn.broken:  # the server ended the session, and its locks with it
        return
    try:
        await conn.execute(queries.RELEASE_ALL_CLAIMS)
    except psycopg.Error:  # the transaction failed: end it, then release on the same session
        await conn.rollback()
        await conn.execute(queries.RELEASE_ALL_CLAIMS)
