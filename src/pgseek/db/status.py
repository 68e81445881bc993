"""What ``pgseek status`` reports about the database."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row, dict_row

from pgseek.db import queries
from pgseek.db.connect import redact
from pgseek.db.scope import Conn
from pgseek.types import ReplicaLag


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
    replicas: tuple[ReplicaLag, ...] = ()


async def database_status(conn: Conn, *, embedded: bool, url: str) -> DatabaseStatus:
    """The server's versions and settings, every collection with its counts (all tenants: an operator's view), and
    the vector indexes."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.SERVER_SETTINGS)
        settings = await cur.fetchone()
    assert settings is not None  # a SELECT without FROM returns one row
    async with conn.cursor(row_factory=class_row(CollectionStatus)) as collections:
        await collections.execute(queries.COLLECTION_STATS)
        found = tuple(await collections.fetchall())
    async with conn.cursor(row_factory=class_row(IndexStatus)) as indexes:
        await indexes.execute(queries.VECTOR_INDEXES)
        built = tuple(await indexes.fetchall())
    return DatabaseStatus(
        embedded=embedded,
        url=redact(url),
        **settings,
        collections=found,
        indexes=built,
    )


async def ping(conn: Conn) -> None:
    await conn.execute(queries.PING)
