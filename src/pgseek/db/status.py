"""What ``pgseek status`` reports about the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from pgseek.db import queries
from pgseek.db.connect import redact


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    name: str
    distance: str
    model: str | None
    dimensions: int | None
    embeddings_table: str | None
    documents: int
    chunks: int


@dataclass(frozen=True, slots=True)
class IndexStatus:
    table: str
    name: str
    method: str
    size_bytes: int
    definition: str


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    embedded: bool
    url: str
    postgres_version: str
    pgvector_version: str | None
    shared_buffers: str
    maintenance_work_mem: str
    collections: tuple[CollectionStatus, ...]
    indexes: tuple[IndexStatus, ...]


async def database_status(conn: psycopg.AsyncConnection[Any], *, embedded: bool, url: str) -> DatabaseStatus:
    cur = await conn.execute(queries.SERVER_SETTINGS)
    settings = await cur.fetchone()
    assert settings is not None
    cur = await conn.execute(queries.COLLECTION_STATS)
    collections = tuple(CollectionStatus(*row) for row in await cur.fetchall())
    cur = await conn.execute(queries.VECTOR_INDEXES)
    indexes = tuple(IndexStatus(*row) for row in await cur.fetchall())
    version, pgvector, shared_buffers, maintenance_work_mem = settings
    return DatabaseStatus(
        embedded=embedded,
        url=redact(url),
        postgres_version=version,
        pgvector_version=pgvector,
        shared_buffers=shared_buffers,
        maintenance_work_mem=maintenance_work_mem,
        collections=collections,
        indexes=indexes,
    )
