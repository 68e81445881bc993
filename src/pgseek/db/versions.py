"""Embedding versions of a collection (decision 0018): their rows, their vector tables, and the state changes that
switch searches from one to another. Deployment-wide rows, read and written as the connecting role; a version's
chunks and vectors hold every tenant's rows, each with its tenant written explicitly (as ingestion writes them)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgseek.db import partitions, queries
from pgseek.db.scope import Conn
from pgseek.errors import ConflictError
from pgseek.precision import require_indexable
from pgseek.types import ModelInfo

VECTOR_TYPES = {"float32": "vector", "float16": "halfvec"}
"""pgvector's column type for each storage precision (pgseek.precision)."""

FORGET_EVERY = 0.001
"""Share of recorded searches that also delete the old ones: a cheap, bounded cleanup with no scheduler."""

LIVE_STATES = ("active", "candidate", "previous")
"""States whose versions receive every write."""


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    collection_id: int
    collection: str
    state: str
    """candidate, active, previous or retired."""
    table: str | None
    chunk_tokens: int
    chunk_overlap: int
    model_id: int
    model: ModelInfo
    backfilled_at: datetime | None
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    comparison: dict[str, Any] | None
    probes: list[float] | None

    @property
    def chunking(self) -> tuple[int, int]:
        return (self.chunk_tokens, self.chunk_overlap)


def _version(row: dict[str, Any]) -> Version:
    model = ModelInfo(
        provider=row["provider"],
        name=row["model_name"],
        dimensions=int(row["dimensions"]),
        version=row["model_version"],
        max_tokens=row["max_tokens"],
        precision=row["precision"],
        normalized=bool(row["normalized"]),
    )
    return Version(
        id=int(row["id"]),
        collection_id=int(row["collection_id"]),
        collection=str(row["collection"]),
        state=str(row["state"]),
        table=row["table"],
        chunk_tokens=int(row["chunk_tokens"]),
        chunk_overlap=int(row["chunk_overlap"]),
        model_id=int(row["model_id"]),
        model=model,
        backfilled_at=row["backfilled_at"],
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        retired_at=row["retired_at"],
        comparison=row["comparison"],
        probes=None if row["probes"] is None else [float(x) for x in row["probes"]],
    )


async def _versions(conn: Conn, statement: str, params: Sequence[object]) -> list[Version]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        return [_version(row) for row in await cur.fetchall()]


async def live_versions(conn: Conn, collection_id: int) -> list[Version]:
    """The versions every write goes to: active, candidate and previous, oldest first."""
    return await _versions(conn, queries.LIVE_VERSIONS, (collection_id,))


async def lock_live_versions(conn: Conn, collection_id: int) -> list[int]:
    """In a write's transaction: the live versions' ids, locked against state changes until it commits."""
    cur = await conn.execute(queries.LOCK_LIVE_VERSIONS, (collection_id,))
    return [int(r[0]) for r in await cur.fetchall()]


async def lock_collection_versions(conn: Conn, collection_id: int) -> None:
    """In a state change's transaction: wait for the writes in flight, and hold off other state changes."""
    await conn.execute(queries.LOCK_COLLECTION_VERSIONS, (collection_id,))


async def collection_versions(conn: Conn, collection: str) -> list[Version]:
    return await _versions(conn, queries.COLLECTION_VERSIONS, (collection,))


async def get_version(conn: Conn, version_id: int) -> Version | None:
    found = await _versions(conn, queries.GET_VERSION, (version_id,))
    return found[0] if found else None


async def register_model(conn: Conn, info: ModelInfo) -> int:
    """The id of a model's identity row, inserting it on first use."""
    require_indexable(info.name, info.dimensions, info.precision)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.GET_MODEL, info.key)
        row = await cur.fetchone()
        if row is not None:
            return int(row["id"])
        identity = (info.provider, info.name, info.dimensions, info.version)
        await cur.execute(queries.INSERT_MODEL, (*identity, info.max_tokens, info.precision, info.normalized))
        inserted = await cur.fetchone()
    if inserted is None:  # another process registered it in between
        return await register_model(conn, info)
    return int(inserted["id"])


async def create_version(
    conn: Conn, collection_id: int, info: ModelInfo, *, chunk_tokens: int, chunk_overlap: int, state: str
) -> Version:
    """A new version with its own empty vector table, in the caller's transaction. The partial unique indexes
    refuse a second active or candidate version of a collection (the caller checks first, to say so clearly)."""
    model_id = await register_model(conn, info)
    values = {
        "collection": collection_id,
        "model": model_id,
        "chunk_tokens": chunk_tokens,
        "chunk_overlap": chunk_overlap,
        "state": state,
    }
    cur = await conn.execute(queries.INSERT_VERSION, values)
    row = await cur.fetchone()
    assert row is not None
    version_id = int(row[0])
    table = f"embeddings_v{version_id}"
    identifiers = {"table": sql.Identifier(table), "scope_index": sql.Identifier(f"{table}_scope_idx")}
    cur = await conn.execute(queries.COLLECTION_PARTITIONS, (collection_id,))
    found_partitions = await cur.fetchone()
    buckets = int(found_partitions[0]) if found_partitions is not None else 0
    await conn.execute(
        queries.CREATE_EMBEDDINGS_TABLE.format(
            table=identifiers["table"],
            type=sql.SQL(VECTOR_TYPES[info.precision]),
            dims=sql.Literal(info.dimensions),
            pkey=sql.Identifier(f"{table}_pkey"),
            fkey=sql.Identifier(f"{table}_chunk_fkey"),
            partition=queries.PARTITION_BY_TENANT if buckets else sql.SQL(""),
        )
    )
    if buckets:
        await partitions.create_layout(conn, table, buckets)
    for statement in queries.SECURE_EMBEDDINGS_TABLE:
        await conn.execute(statement.format(**identifiers))
    await conn.execute(queries.NAME_VERSION_TABLE, (table, version_id))
    if state == "active":
        await conn.execute(queries.SET_COLLECTION_MODEL, (model_id, collection_id))
    found = await get_version(conn, version_id)
    assert found is not None
    return found


async def set_probes(conn: Conn, version_id: int, probes: Sequence[float]) -> None:
    """Record the version's fingerprint, once: the first writer's vectors are the reference from then on."""
    await conn.execute(queries.SET_VERSION_PROBES, (list(probes), version_id))


async def set_state(conn: Conn, version: Version, state: str) -> None:
    await conn.execute(queries.SET_VERSION_STATE, {"state": state, "id": version.id})
    if state == "active":
        await conn.execute(queries.SET_COLLECTION_MODEL, (version.model_id, version.collection_id))


async def set_comparison(conn: Conn, version_id: int, comparison: dict[str, Any]) -> None:
    await conn.execute(queries.SET_VERSION_COMPARISON, (Jsonb(comparison), version_id))


async def mark_backfilled(conn: Conn, version_id: int) -> None:
    await conn.execute(queries.SET_VERSION_BACKFILLED, (version_id,))


async def missing_documents(conn: Conn, version: Version, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` of the collection's documents (every tenant's) with no chunk in the version, after id
    ``after``, in id order."""
    values = {"collection": version.collection_id, "version": version.id, "after": after, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.MISSING_DOCUMENTS, values)
        return await cur.fetchall()


async def count_missing(conn: Conn, version: Version) -> tuple[int, int]:
    """(documents without a chunk in the version, documents in the collection)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.COUNT_MISSING_DOCUMENTS, {"collection": version.collection_id, "version": version.id})
        row = await cur.fetchone()
    assert row is not None
    return int(row["missing"]), int(row["total"])


async def chunk_count(conn: Conn, version_id: int) -> int:
    cur = await conn.execute(queries.VERSION_CHUNK_COUNT, (version_id,))
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def lock_documents(conn: Conn, document_ids: Sequence[int]) -> dict[int, str]:
    """Lock these documents against deletes and updates until commit; the content hash of each still there."""
    cur = await conn.execute(queries.LOCK_DOCUMENTS, (list(document_ids),))
    return {int(r[0]): str(r[1]) for r in await cur.fetchall()}


async def try_backfill_lock(conn: Conn, version_id: int) -> bool:
    """Take the version's backfill lock on this session (no other backfiller runs it meanwhile)."""
    cur = await conn.execute(queries.TRY_BACKFILL_LOCK, (version_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def backfill_unlock(conn: Conn, version_id: int) -> None:
    await conn.execute(queries.BACKFILL_UNLOCK, (version_id,))


async def backfill_running(conn: Conn, version_id: int) -> bool:
    cur = await conn.execute(queries.BACKFILL_RUNNING, (version_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def retire(conn: Conn, version: Version) -> None:
    """Drop the version's vectors and chunks, in the caller's transaction; its row stays, retired. A table that
    migrated collections share (one per model, before versions) loses only this collection's rows."""
    if version.table is not None:
        table = sql.Identifier(version.table)
        cur = await conn.execute(queries.TABLE_USED_BY_OTHER_VERSIONS, (version.table, version.id))
        row = await cur.fetchone()
        if row is not None and row[0]:
            await conn.execute(queries.DELETE_VERSION_VECTORS.format(table=table), (version.collection_id,))
        else:
            await conn.execute(queries.DROP_TABLE.format(table=table))
    await conn.execute(queries.DELETE_VERSION_CHUNKS, (version.id,))
    await conn.execute(queries.DELETE_VERSION_STATS, (version.id,))
    await set_state(conn, version, "retired")


def require_states(version: Version, allowed: Sequence[str], action: str) -> None:
    if version.state not in allowed:
        raise ConflictError(
            f"version {version.id} of collection {version.collection!r} is {version.state}; only a version that is "
            f"{' or '.join(allowed)} can be {action}"
        )


async def record_query(conn: Conn, tenant: str, collection_id: int, query: str, mode: str, *, days: int) -> None:
    """Remember a searched query for comparisons; now and then forget those older than ``days``."""
    values = {"tenant": tenant, "collection": collection_id, "query": query, "mode": mode}
    await conn.execute(queries.RECORD_QUERY, values)
    if random.random() < FORGET_EVERY:
        await conn.execute(queries.FORGET_OLD_QUERIES, (days,))


async def recent_queries(conn: Conn, collection_id: int, limit: int) -> list[tuple[str, str, str]]:
    """The latest distinct searches of a collection, every tenant's: (tenant, query, mode)."""
    cur = await conn.execute(queries.RECENT_QUERIES, (collection_id, limit))
    return [(str(t), str(q), str(m)) for t, q, m in await cur.fetchall()]
