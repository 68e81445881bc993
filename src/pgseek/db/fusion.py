"""A collection's stored hybrid fusion setting (``collections.fusion``, migration 0010), read and written as the
connecting role, like the rest of the collection's row: it is the deployment's, shared by every tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from pgseek.db import queries
from pgseek.db.scope import Conn


async def collection_fusion(conn: Conn, collection_id: int) -> dict[str, Any] | None:
    """The stored setting as written (``search.hybrid.Fusion.from_json`` reads it); None for the default."""
    cur = await conn.execute(queries.GET_COLLECTION_FUSION, (collection_id,))
    row = await cur.fetchone()
    value = None if row is None else row[0]
    return dict(value) if isinstance(value, Mapping) else None


async def set_collection_fusion(conn: Conn, collection_id: int, fusion: Mapping[str, Any] | None) -> None:
    """Store a setting (None: back to the default)."""
    await conn.execute(queries.SET_COLLECTION_FUSION, (None if fusion is None else Jsonb(dict(fusion)), collection_id))
