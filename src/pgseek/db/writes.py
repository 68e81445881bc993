"""Document writes: upsert documents, stream chunks and vectors with binary COPY, build and analyze the vector index.

PostgreSQL refuses COPY FROM under row-level security, so writes run as the connecting (owner) role with the tenant
written explicitly on every row; every read, the hashes that decide what to re-embed included, goes through
``TenantConn`` (scope.py). See docs/decisions/0004.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from numpy.typing import NDArray
from pgvector import HalfVector
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from pgseek.db import queries
from pgseek.db.catalog import Collection
from pgseek.db.connect import classify
from pgseek.db.scope import Conn, TenantConn
from pgseek.errors import DataRejectedError
from pgseek.types import Chunk, Document

_OPCLASS_SUFFIXES = {"cosine": "cosine_ops", "l2": "l2_ops", "ip": "ip_ops"}
"""Of each distance's HNSW operator class, after the column type: vector_cosine_ops, halfvec_cosine_ops..."""


@dataclass(frozen=True, slots=True)
class PendingDocument:
    """A document ready to be written: its chunks embedded (or their stored vectors reused), its hash computed."""

    document: Document
    content_hash: str
    chunks: Sequence[Chunk]
    vectors: NDArray[np.float32]
    embed_hashes: Sequence[bytes]
    """Per chunk, the hash of the text its vector was computed from under the model's identity (decision 0017)."""
    reused: int = 0
    """How many of the vectors are stored ones reused, not embedded now."""


@dataclass(frozen=True, slots=True)
class WrittenDocument:
    external_id: str
    inserted: bool
    unchanged: bool = False
    """The database already held this very version (same content hash): nothing was written."""


async def existing_hashes(scope: TenantConn, collection_id: int, external_ids: Sequence[str]) -> dict[str, str]:
    """The stored content hash of each of these documents the tenant has."""
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.EXISTING_HASHES, (scope.tenant, collection_id, list(external_ids)))
        return {str(r["external_id"]): str(r["content_hash"]) for r in await cur.fetchall()}


async def stored_vectors(
    scope: TenantConn, collection_id: int, table: str, external_ids: Sequence[str], embed_hashes: Sequence[bytes]
) -> dict[bytes, NDArray[np.float32]]:
    """The tenant's stored vectors of these documents' chunks, by the embed hash of each chunk that has one of these
    (decision 0017). Read on a connection that may lack pgvector's types: the vectors come back as float4 arrays."""
    statement = queries.STORED_VECTORS.format(table=sql.Identifier(table))
    values = {
        "tenant": scope.tenant,
        "collection": collection_id,
        "ids": list(external_ids),
        "hashes": list(embed_hashes),
    }
    async with scope.conn.cursor(binary=True) as cur:
        await cur.execute(statement, values)
        rows = await cur.fetchall()
    return {bytes(key): np.asarray(vector, dtype=np.float32) for key, vector in rows}


async def claim_documents(scope: TenantConn, collection_id: int, external_ids: Sequence[str]) -> set[str]:
    """Claim the documents no other ingest run holds (on a run's claims connection, scope.claims_scope); return
    those claimed. Session-level advisory locks: they outlive transactions until released (decision 0008)."""
    values = {"ids": list(external_ids), "tenant": scope.tenant, "collection": collection_id}
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.CLAIM_DOCUMENTS, values)
        return {str(r["external_id"]) for r in await cur.fetchall()}


async def release_documents(scope: TenantConn, collection_id: int, external_ids: Sequence[str]) -> None:
    if external_ids:
        values = {"ids": list(external_ids), "tenant": scope.tenant, "collection": collection_id}
        await scope.conn.execute(queries.RELEASE_DOCUMENTS, values)


async def write_documents(
    conn: Conn, tenant: str, collection: Collection, table: str, pending: Sequence[PendingDocument]
) -> list[WrittenDocument]:
    """Upsert documents and stream their chunks and vectors with binary COPY, inside the caller's transaction.

    Raises DataRejectedError when the database rejects the batch (a constraint, a value jsonb cannot hold...),
    DatabaseUnavailableError when the server is gone (``connect.classify``).
    """
    try:
        return await _write_documents(conn, tenant, collection, table, pending)
    except psycopg.Error as exc:
        raise classify(exc, "writing documents") from exc


async def _write_documents(
    conn: Conn, tenant: str, collection: Collection, table: str, pending: Sequence[PendingDocument]
) -> list[WrittenDocument]:
    docs = [p.document for p in pending]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            queries.UPSERT_DOCUMENTS,
            (
                tenant,
                collection.id,
                [d.external_id for d in docs],
                [d.source for d in docs],
                [d.title for d in docs],
                [Jsonb(dict(d.metadata)) for d in docs],
                [d.text for d in docs],
                [p.content_hash for p in pending],
            ),
        )
        rows = await cur.fetchall()
    doc_ids = {str(r["external_id"]): int(r["id"]) for r in rows}
    # Documents the upsert left alone (their stored hash is the new one) keep their chunks and vectors.
    written = [p for p in pending if p.document.external_id in doc_ids]
    if written:
        total = sum(len(p.chunks) for p in written)
        allocated = await conn.execute(queries.ALLOCATE_CHUNK_IDS, (total,))
        chunk_ids = [int(r[0]) for r in await allocated.fetchall()]
        await _copy_chunks(conn, tenant, collection, written, doc_ids, chunk_ids)
        await _copy_vectors(conn, tenant, collection.id, table, written, chunk_ids)
        await conn.execute(queries.DELETE_REPLACED_CHUNKS, (list(doc_ids.values()), chunk_ids))
    same = [WrittenDocument(p.document.external_id, False, unchanged=True) for p in pending if p not in written]
    return [WrittenDocument(str(r["external_id"]), bool(r["inserted"])) for r in rows] + same


async def _copy_chunks(
    conn: Conn,
    tenant: str,
    collection: Collection,
    pending: Sequence[PendingDocument],
    doc_ids: dict[str, int],
    chunk_ids: list[int],
) -> None:
    ids = iter(chunk_ids)
    async with conn.cursor() as cur, cur.copy(queries.COPY_CHUNKS) as copy:
        copy.set_types(queries.COPY_CHUNK_TYPES)
        for p in pending:
            doc_id = doc_ids[p.document.external_id]
            for c, embed_hash in zip(p.chunks, p.embed_hashes, strict=True):
                await copy.write_row(
                    (
                        next(ids),
                        doc_id,
                        tenant,
                        collection.id,
                        c.position,
                        c.text,
                        c.token_count,
                        c.start,
                        c.end,
                        list(c.heading_path),
                        collection.text_search_config_oid,
                        c.page,
                        c.page_end,
                        embed_hash,
                    )
                )


async def _copy_vectors(
    conn: Conn, tenant: str, collection_id: int, table: str, pending: Sequence[PendingDocument], chunk_ids: list[int]
) -> None:
    ids = iter(chunk_ids)
    vector_type = await embedding_type(conn, table)
    statement = queries.COPY_EMBEDDINGS.format(table=sql.Identifier(table))
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int8", "text", "int4", vector_type])
        for p in pending:
            # halfvec's binary form is float16: pgvector-python's HalfVector rounds and encodes it.
            rows = p.vectors if vector_type == "vector" else [HalfVector(v) for v in _as_float16(p)]
            for vector in rows:
                await copy.write_row((next(ids), tenant, collection_id, vector))


def _as_float16(pending: PendingDocument) -> NDArray[np.float16]:
    """The document's vectors rounded to float16; a value beyond float16's range (65,504) is refused, not stored
    as infinity."""
    with np.errstate(over="ignore"):
        half = pending.vectors.astype(np.float16)
    if not np.isfinite(half).all():
        raise DataRejectedError(
            f"document {pending.document.external_id!r}: its embedding holds values beyond float16's range "
            "(65,504); store this model's vectors as float32 (PGSEEK_EMBED_PRECISION=float32, in a new collection)"
        )
    return half


async def embedding_type(conn: Conn, table: str) -> str:
    """The embeddings table's column type: ``vector`` or ``halfvec``."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.EMBEDDING_TYPE, (table,))
        row = await cur.fetchone()
    if row is None:
        raise LookupError(f"embeddings table {table!r} has no embedding column")
    return str(row["type"])


def hnsw_index_name(table: str, distance: str) -> str:
    """The name of the HNSW index pgseek keeps on an embeddings table for a distance."""
    return f"{table}_hnsw_{distance}"


async def hnsw_opclass(conn: Conn, table: str, distance: str) -> str:
    """The HNSW operator class of the table's column type and the distance: vector_cosine_ops, halfvec_l2_ops..."""
    return f"{await embedding_type(conn, table)}_{_OPCLASS_SUFFIXES[distance]}"


async def ensure_hnsw_index(
    conn: Conn, table: str, distance: str, *, m: int, ef_construction: int, memory: str
) -> bool:
    """Give the table a valid HNSW index: build it when missing, rebuild it when invalid (its build was killed);
    True when it was built now. An empty table is left without one: a bulk build after the first rows is faster
    than growing the graph row by row."""
    index = hnsw_index_name(table, distance)
    if await _index_valid(conn, index):
        return False
    async with conn.transaction():
        await conn.execute(queries.INDEX_BUILD_LOCK, (index,))
        state = await _index_valid(conn, index)
        if state:  # another process built it while this one waited for the lock
            return False
        if not await _has_rows(conn, table):
            return False
        opclass = await hnsw_opclass(conn, table, distance)
        if state is False:
            await conn.execute(queries.DROP_INDEX.format(index=sql.Identifier(index)))
        # The graph builds several times faster when it fits in maintenance_work_mem.
        await conn.execute(queries.SET_LOCAL_MAINTENANCE_WORK_MEM, (memory,))
        await conn.execute(
            queries.CREATE_HNSW_INDEX.format(
                index=sql.Identifier(index),
                table=sql.Identifier(table),
                opclass=sql.SQL(opclass),
                m=sql.Literal(m),
                ef_construction=sql.Literal(ef_construction),
            )
        )
    return True


async def _index_valid(conn: Conn, index: str) -> bool | None:
    """True: a valid index; False: an invalid one; None: none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.INDEX_VALID, (index,))
        row = await cur.fetchone()
    return None if row is None else bool(row["usable"])


async def _has_rows(conn: Conn, table: str) -> bool:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.TABLE_HAS_ROWS.format(table=sql.Identifier(table)))
        row = await cur.fetchone()
    return row is not None and bool(row["has_rows"])


async def analyze(conn: Conn, tables: Sequence[str]) -> None:
    await conn.execute(queries.ANALYZE.format(tables=sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
