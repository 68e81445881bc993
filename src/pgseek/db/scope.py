"""The one way into a tenant's rows: ``tenant_transaction`` owns a transaction that runs as the application role
with the tenant set, and hands out a ``TenantConn``, the only connection type the functions that read or delete tenant
data accept. Forgetting the scope is a type error (mypy), not a leak.

Row-level security (migration 0002) does the filtering: the role ``pgseek_app`` is neither a superuser nor the
tables' owner, so the policies keyed on ``pgseek.tenant`` apply to it even on the embedded server. Both settings are
transaction-local (``set_config(..., true)``), so nothing outlives the transaction, behind PgBouncer too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from pgseek.db import queries
from pgseek.db.connect import Pool

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class TenantConn:
    """A connection inside a transaction scoped to ``tenant``: made only by ``tenant_transaction``."""

    conn: Conn
    tenant: str


@asynccontextmanager
async def tenant_transaction(pool: Pool, tenant: str) -> AsyncIterator[TenantConn]:
    """A pooled connection in a new transaction that sees and changes only ``tenant``'s rows."""
    async with pool.connection() as conn, conn.transaction():
        yield await enter_tenant(conn, tenant)


async def enter_tenant(conn: Conn, tenant: str) -> TenantConn:
    """Scope the caller's open transaction to ``tenant`` (for a transaction that did owner work first: the vector
    plan's estimate). Prefer ``tenant_transaction``."""
    await conn.execute(queries.TENANT_SCOPE, (tenant,))
    return TenantConn(conn, tenant)
