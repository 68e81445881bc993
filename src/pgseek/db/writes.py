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

from pgseek.db import indexes, queries, versions
from pgseek.db.catalog import Collection
from pgseek.db.connect import classify
from pgseek.db.scope import Conn, TenantConn
from pgseek.db.versions import Version
from pgseek.errors import DataRejectedError
from pgseek.types import Chunk, Document


@dataclass(frozen=True, slots=True)
class VersionRows:
    """A document's chunks in one embedding version, embedded (or their stored vectors reused)."""

    version: Version
    chunks: Sequence[Chunk]
    vectors: NDArray[np.float32]
    embed_hashes: Sequence[bytes]
    """Per chunk, the hash of the text its vector was computed from under the model's identity (decision 0017)."""
    reused: int = 0
    """How many of the vectors are stored ones reused, not embedded now."""


@dataclass(frozen=True, slots=True)
class PendingDocument:
    """A document ready to be written: its rows in every live version of its collection, its hash computed."""

    document: Document
    content_hash: str
    rows: Sequence[VersionRows]


class VersionsChanged(Exception):
    """The collection's live versions are not those the rows were prepared for: a version was added, activated or
    retired meanwhile. Nothing was written; prepare the rows again for ``live``."""

    def __init__(self, live: list[int]) -> None:
        super().__init__(f"the collection's live versions are now {live}")
        self.live = live


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
    scope: TenantConn, collection_id: int, version: Version, external_ids: Sequence[str], embed_hashes: Sequence[bytes]
) -> dict[bytes, NDArray[np.float32]]:
    """The tenant's stored vectors of these documents' chunks in a version, by the embed hash of each chunk that has
    one of these (decision 0017). Read on a connection that may lack pgvector's types: the vectors come back as
    float4 arrays."""
    assert version.table is not None
    statement = queries.STORED_VECTORS.format(table=sql.Identifier(version.table))
    values = {
        "tenant": scope.tenant,
        "collection": collection_id,
        "version": version.id,
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
    conn: Conn, tenant: str, collection: Collection, live: Sequence[int], pending: Sequence[PendingDocument]
) -> list[WrittenDocument]:
    """Upsert documents and stream their chunks and vectors, in every live version, with binary COPY, inside the
    caller's transaction. ``live``: the ids of the versions the rows were prepared for.

    Raises VersionsChanged when the collection's live versions are others now, DataRejectedError when the
    database rejects the batch (a constraint, a value jsonb cannot hold...), DatabaseUnavailableError when the
    server is gone (``connect.classify``).
    """
    try:
        locked = await versions.lock_live_versions(conn, collection.id)
        if sorted(locked) != sorted(live):
            raise VersionsChanged(locked)
        return await _write_documents(conn, tenant, collection, list(live), pending)
    except psycopg.Error as exc:
        raise classify(exc, "writing documents") from exc


async def _write_documents(
    conn: Conn, tenant: str, collection: Collection, live: list[int], pending: Sequence[PendingDocument]
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
                [Jsonb(list(d.pages)) if d.pages else None for d in docs],
            ),
        )
        rows = await cur.fetchall()
    doc_ids = {str(r["external_id"]): int(r["id"]) for r in rows}
    # Documents the upsert left alone (their stored hash is the new one) keep their chunks and vectors.
    written = [p for p in pending if p.document.external_id in doc_ids]
    if written:
        parts = [(doc_ids[p.document.external_id], tenant, part) for p in written for part in p.rows]
        chunk_ids = await _copy_rows(conn, collection, parts)
        await conn.execute(queries.DELETE_REPLACED_CHUNKS, (list(doc_ids.values()), live, chunk_ids))
    same = [WrittenDocument(p.document.external_id, False, unchanged=True) for p in pending if p not in written]
    return [WrittenDocument(str(r["external_id"]), bool(r["inserted"])) for r in rows] + same


async def write_version_rows(
    conn: Conn, collection: Collection, version: Version, parts: Sequence[tuple[int, str, str, VersionRows]]
) -> set[int]:
    """A backfill's write, in the caller's transaction: each (document id, tenant, content hash it was read with,
    rows) into one version, for the documents still there unchanged (locked until commit, so that a delete waits
    and never leaves rows behind). Returns the ids of the documents written."""
    try:
        current = await versions.lock_documents(conn, [doc_id for doc_id, *_ in parts])
        kept = [(doc_id, tenant, rows) for doc_id, tenant, digest, rows in parts if current.get(doc_id) == digest]
        if kept:
            chunk_ids = await _copy_rows(conn, collection, kept)
            await conn.execute(queries.DELETE_REPLACED_CHUNKS, ([d for d, *_ in kept], [version.id], chunk_ids))
        return {doc_id for doc_id, _, _ in kept}
    except psycopg.Error as exc:
        raise classify(exc, "writing a version's rows") from exc


async def _copy_rows(conn: Conn, collection: Collection, parts: Sequence[tuple[int, str, VersionRows]]) -> list[int]:
    """COPY chunks, then each version's vectors into its table; the new chunks' ids."""
    total = sum(len(rows.chunks) for _, _, rows in parts)
    allocated = await conn.execute(queries.ALLOCATE_CHUNK_IDS, (total,))
    chunk_ids = [int(r[0]) for r in await allocated.fetchall()]
    ids = iter(chunk_ids)
    by_table: dict[str, list[tuple[list[int], str, VersionRows]]] = {}
    async with conn.cursor() as cur, cur.copy(queries.COPY_CHUNKS) as copy:
        copy.set_types(queries.COPY_CHUNK_TYPES)
        for doc_id, tenant, rows in parts:
            mine: list[int] = []
            for c, embed_hash in zip(rows.chunks, rows.embed_hashes, strict=True):
                mine.append(next(ids))
                await copy.write_row(
                    (
                        mine[-1],
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
                        rows.version.id,
                    )
                )
            assert rows.version.table is not None
            by_table.setdefault(rows.version.table, []).append((mine, tenant, rows))
    for table, batches in by_table.items():
        await _copy_vectors(conn, table, collection.id, batches)
    return chunk_ids


async def _copy_vectors(
    conn: Conn, table: str, collection_id: int, batches: Sequence[tuple[list[int], str, VersionRows]]
) -> None:
    vector_type = await embedding_type(conn, table)
    statement = queries.COPY_EMBEDDINGS.format(table=sql.Identifier(table))
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int8", "text", "int4", vector_type])
        for chunk_ids, tenant, rows in batches:
            # halfvec's binary form is float16: pgvector-python's HalfVector rounds and encodes it.
            vectors = rows.vectors if vector_type == "vector" else [HalfVector(v) for v in _as_float16(rows)]
            for chunk_id, vector in zip(chunk_ids, vectors, strict=True):
                await copy.write_row((chunk_id, tenant, collection_id, vector))


def _as_float16(rows: VersionRows) -> NDArray[np.float16]:
    """The document's vectors rounded to float16; a value beyond float16's range (65,504) is refused, not stored
    as infinity."""
    with np.errstate(over="ignore"):
        half = rows.vectors.astype(np.float16)
    if not np.isfinite(half).all():
        raise DataRejectedError(
            f"version {rows.version.id}: an embedding holds values beyond float16's range "
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


async def ensure_vector_index(
    conn: Conn, table: str, spec: indexes.IndexSpec, build: indexes.BuildOptions, *, collection_id: int
) -> bool:
    """Give the table a valid index of the collection's kind (decision 0027): build it when missing, rebuild it when
    invalid (its build was killed); True when it was built now. An empty table is left without one: a bulk build
    after the first rows is faster than growing the graph row by row. An IVFFlat index waits for
    ``build.ivfflat_min_rows`` rows (its lists are clustered from the rows there are; searches are exact until then),
    and its lists and rows are recorded, for the doctor to tell when the table outgrew them."""
    index = spec.name(table)
    if await index_valid(conn, index):
        return False
    async with conn.transaction():
        await conn.execute(queries.INDEX_BUILD_LOCK, (index,))
        state = await index_valid(conn, index)
        if state:  # another process built it while this one waited for the lock
            return False
        rows = 0
        if spec.kind == "ivfflat":
            rows = await indexes.count_rows(conn, table)
            if rows < max(build.ivfflat_min_rows, 1):
                return False
        elif not await _has_rows(conn, table):
            return False
        column_type = await embedding_type(conn, table)
        if state is False:
            await conn.execute(queries.DROP_INDEX.format(index=sql.Identifier(index)))
        # The graph builds several times faster when it fits in maintenance_work_mem.
        await conn.execute(queries.maintenance_work_mem(build.memory))
        lists = indexes.ivfflat_lists(rows) if spec.kind == "ivfflat" else None
        await conn.execute(indexes.create_statement(table, spec, column_type, build, lists=lists))
        if lists is not None:
            await conn.execute(indexes.record_statement(index, table, collection_id, "ivfflat", rows, lists=lists))
    return True


async def ensure_hnsw_index(
    conn: Conn, table: str, distance: str, *, m: int, ef_construction: int, memory: str
) -> bool:
    """``ensure_vector_index`` of the plain HNSW index (what an HNSW collection without quantization has)."""
    spec = indexes.IndexSpec("hnsw", "none", distance, 0)
    return await ensure_vector_index(
        conn, table, spec, indexes.BuildOptions(m, ef_construction, memory, 1), collection_id=0
    )


async def index_ready(conn: Conn, table: str) -> bool:
    """Whether the table has a valid vector index that searches can use."""
    cur = await conn.execute(queries.VECTOR_INDEX_READY, (table,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def index_valid(conn: Conn, index: str) -> bool | None:
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
