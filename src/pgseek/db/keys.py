"""API keys of the HTTP service: only their SHA-256 digest is stored. Deployment-wide, read as the connecting role."""

from __future__ import annotations

from psycopg.rows import class_row

from pgseek.db import queries
from pgseek.db.scope import Conn
from pgseek.types import ApiKey


async def insert_api_key(conn: Conn, key_id: str, tenant: str, name: str | None, key_hash: str) -> ApiKey:
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(queries.INSERT_API_KEY, (key_id, tenant, name, key_hash))
        row = await cur.fetchone()
    assert row is not None  # INSERT ... RETURNING returns its row or raises
    return row


async def find_api_key(conn: Conn, key_hash: str) -> ApiKey | None:
    """The live (unrevoked) key with this digest."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(queries.FIND_API_KEY, (key_hash,))
        return await cur.fetchone()


async def revoke_api_key(conn: Conn, key_id: str) -> ApiKey | None:
    """Revoke a key (revoking twice keeps the first time); None when there is no such key."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(queries.REVOKE_API_KEY, (key_id,))
        return await cur.fetchone()


async def list_api_keys(conn: Conn, tenant: str | None = None) -> list[ApiKey]:
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(queries.LIST_API_KEYS, {"tenant": tenant})
        return await cur.fetchall()
