"""Typed functions over the named statements in ``queries``: the only code that talks to the tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.types.json import Jsonb

from pgseek.db import queries
from pgseek.db.connect import classify
from pgseek.errors import ConfigurationError, NotFoundError
from pgseek.types import ApiKey, Chunk, CollectionInfo, Document, ModelInfo, StoredDocument

Conn = psycopg.AsyncConnection[Any]

_OPERATORS = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}
_OPCLASSES = {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops", "ip": "vector_ip_ops"}


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    name: str
    text_search_config: str
    distance: str
    embedding_model_id: int | None
    text_search_config_oid: int


@dataclass(frozen=True, slots=True)
class EmbeddingTable:
    model_id: int
    table: str


@dataclass(frozen=True, slots=True)
class PendingDocument:
    """A document ready to be written: its chunks embedded, its hash computed."""

    document: Document
    content_hash: str
    chunks: Sequence[Chunk]
    vectors: NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WrittenDocument:
    external_id: str
    inserted: bool


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk with its document; ``value`` is the leg's own measure (vector: distance, keyword: rank)."""

    chunk_id: int
    external_id: str
    title: str | None
    source: str | None
    text: str
    position: int
    metadata: dict[str, Any]
    heading_path: tuple[str, ...]
    start: int
    end: int
    value: float


async def setup_lock(conn: Conn) -> None:
    await conn.execute(queries.SETUP_LOCK)


async def tenant_scope(conn: Conn, tenant: str) -> None:
    """Switch the current transaction to the application role and one tenant; row-level security does the rest."""
    await conn.execute(queries.TENANT_SCOPE, (tenant,))


async def ensure_tenant(conn: Conn, tenant: str) -> None:
    await conn.execute(queries.ENSURE_TENANT, (tenant,))


async def get_collection(
    conn: Conn, name: str, *, create: bool = False, distance: str = "cosine", text_search_config: str = "english"
) -> Collection:
    """A collection by name; ``create`` makes it when missing. An existing one keeps its own settings."""
    if create:
        cur = await conn.execute(queries.TEXT_SEARCH_CONFIG_EXISTS, (text_search_config,))
        if await cur.fetchone() is None:
            raise ConfigurationError(
                f"text search configuration {text_search_config!r} does not exist in this database; use 'english', "
                "'simple' (no stemming, any language) or another name from pg_ts_config"
            )
        await conn.execute(queries.ENSURE_COLLECTION, (name, distance, text_search_config))
    cur = await conn.execute(queries.GET_COLLECTION, (name,))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"collection {name!r} does not exist; ingest into it first (pgseek ingest --collection)")
    return Collection(*row)


async def ensure_embedding_table(conn: Conn, info: ModelInfo) -> EmbeddingTable:
    """Register a model and create its vector table on first use. A new model never overwrites old vectors."""
    key = (info.provider, info.name, info.version, info.dimensions)
    cur = await conn.execute(queries.GET_MODEL, key)
    row = await cur.fetchone()
    if row is not None and row[1] != "pending":
        return EmbeddingTable(int(row[0]), str(row[1]))
    if row is None:
        cur = await conn.execute(queries.INSERT_MODEL, (info.provider, info.name, info.dimensions, info.version))
        inserted = await cur.fetchone()
        if inserted is None:  # another process registered it in between
            return await ensure_embedding_table(conn, info)
        model_id = int(inserted[0])
    else:
        model_id = int(row[0])
    table = f"embeddings_{model_id}"
    await conn.execute(
        queries.CREATE_EMBEDDINGS_TABLE.format(table=sql.Identifier(table), dims=sql.Literal(info.dimensions))
    )
    for statement in queries.SECURE_EMBEDDINGS_TABLE:
        await conn.execute(
            statement.format(table=sql.Identifier(table), scope_index=sql.Identifier(f"{table}_scope_idx"))
        )
    await conn.execute(queries.NAME_MODEL_TABLE, (table, model_id))
    return EmbeddingTable(model_id, table)


async def bind_collection_model(conn: Conn, collection: Collection, model: EmbeddingTable, info: ModelInfo) -> None:
    """Give a collection its model on first ingest; refuse to mix models in one collection."""
    if collection.embedding_model_id is None:
        await conn.execute(queries.SET_COLLECTION_MODEL, (model.model_id, collection.id))
        return
    if collection.embedding_model_id != model.model_id:
        raise ConfigurationError(
            f"collection {collection.name!r} is embedded with another model (id {collection.embedding_model_id}), "
            f"not {info.name} {info.version}; use that model (PGSEEK_MODEL) or ingest into a new collection"
        )


async def collection_table(conn: Conn, collection: Collection) -> str | None:
    if collection.embedding_model_id is None:
        return None
    cur = await conn.execute(queries.GET_MODEL_BY_ID, (collection.embedding_model_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[5])


async def existing_hashes(conn: Conn, tenant: str, collection_id: int, external_ids: Sequence[str]) -> dict[str, str]:
    await tenant_scope(conn, tenant)
    cur = await conn.execute(queries.EXISTING_HASHES, (tenant, collection_id, list(external_ids)))
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}


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
    # No tenant_scope here: PostgreSQL refuses COPY FROM under row-level security, so writes run as the connecting
    # (owner) role with the tenant written explicitly on every row. Every read goes through tenant_scope.
    docs = [p.document for p in pending]
    cur = await conn.execute(
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
    doc_ids = {str(r[0]): int(r[1]) for r in rows}
    total = sum(len(p.chunks) for p in pending)
    cur = await conn.execute(queries.ALLOCATE_CHUNK_IDS, (total,))
    chunk_ids = [int(r[0]) for r in await cur.fetchall()]
    await _copy_chunks(conn, tenant, collection, pending, doc_ids, chunk_ids)
    await _copy_vectors(conn, tenant, collection.id, table, pending, chunk_ids)
    await conn.execute(queries.DELETE_REPLACED_CHUNKS, (list(doc_ids.values()), chunk_ids))
    return [WrittenDocument(str(r[0]), bool(r[2])) for r in rows]


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
            for c in p.chunks:
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
                    )
                )


async def _copy_vectors(
    conn: Conn, tenant: str, collection_id: int, table: str, pending: Sequence[PendingDocument], chunk_ids: list[int]
) -> None:
    ids = iter(chunk_ids)
    statement = queries.COPY_EMBEDDINGS.format(table=sql.Identifier(table))
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int8", "text", "int4", "vector"])
        for p in pending:
            for vector in p.vectors:
                await copy.write_row((next(ids), tenant, collection_id, vector))


async def ensure_hnsw_index(
    conn: Conn, table: str, distance: str, *, m: int, ef_construction: int, memory: str
) -> bool:
    """Give the table a valid HNSW index: build it when missing, rebuild it when invalid (its build was killed);
    True when it was built now. An empty table is left without one: a bulk build after the first rows is faster
    than growing the graph row by row."""
    index = f"{table}_hnsw_{distance}"
    if await _index_valid(conn, index):
        return False
    async with conn.transaction():
        await conn.execute(queries.INDEX_BUILD_LOCK, (index,))
        state = await _index_valid(conn, index)
        if state:  # another process built it while this one waited for the lock
            return False
        cur = await conn.execute(queries.TABLE_HAS_ROWS.format(table=sql.Identifier(table)))
        row = await cur.fetchone()
        if row is None or not row[0]:
            return False
        if state is False:
            await conn.execute(queries.DROP_INDEX.format(index=sql.Identifier(index)))
        # The graph builds several times faster when it fits in maintenance_work_mem.
        await conn.execute(queries.SET_LOCAL_MAINTENANCE_WORK_MEM, (memory,))
        await conn.execute(
            queries.CREATE_HNSW_INDEX.format(
                index=sql.Identifier(index),
                table=sql.Identifier(table),
                opclass=sql.SQL(_OPCLASSES[distance]),
                m=sql.Literal(m),
                ef_construction=sql.Literal(ef_construction),
            )
        )
    return True


async def _index_valid(conn: Conn, index: str) -> bool | None:
    """True: a valid index; False: an invalid one; None: none."""
    cur = await conn.execute(queries.INDEX_VALID, (index,))
    row = await cur.fetchone()
    return None if row is None else bool(row[0])


async def vector_tables_in_use(conn: Conn) -> list[tuple[str, str]]:
    """(embeddings table, distance) of every collection that has vectors: the HNSW indexes pgseek keeps."""
    cur = await conn.execute(queries.VECTOR_TABLES_IN_USE)
    return [(str(r[0]), str(r[1])) for r in await cur.fetchall()]


async def analyze(conn: Conn, tables: Sequence[str]) -> None:
    await conn.execute(queries.ANALYZE.format(tables=sql.SQL(", ").join(sql.Identifier(t) for t in tables)))


Where = tuple[sql.Composable, dict[str, Any]]
NO_FILTER: Where = (sql.SQL("TRUE"), {})


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """How a vector search runs: "iterative" (HNSW, walking on until k rows pass the filter) or "exact"."""

    kind: str
    estimated_rows: int


@dataclass(frozen=True, slots=True)
class VectorTuning:
    ef_search: int
    max_scan_tuples: int
    exact_below: int
    """Scan exactly when the planner expects at most this many matching rows."""


async def vector_search(
    conn: Conn,
    table: str,
    collection: Collection,
    tenant: str,
    query: NDArray[np.float32],
    *,
    k: int,
    tuning: VectorTuning,
    where: Where = NO_FILTER,
) -> tuple[list[ChunkRow], VectorPlan]:
    """k nearest chunks (value: distance) under tenant, collection and filter, with the plan that found them.

    Every setting is SET LOCAL: it ends with this transaction, which keeps pooled connections clean.
    """
    fragment, params = where
    names = {"table": sql.Identifier(table), "filter": fragment}
    values = {**params, "query": query, "tenant": tenant, "collection": collection.id, "k": k}
    async with conn.transaction():
        # Estimated before entering the tenant role: under row-level security the planner sees the policies'
        # current_setting() comparison on every joined table, guesses each at 0.5% and underestimates large
        # tenants by orders of magnitude. EXPLAIN only plans; it reads no rows.
        plan = await _choose_plan(conn, names, values, tuning)
        await tenant_scope(conn, tenant)
        if plan.kind == "exact":
            await conn.execute(queries.SET_LOCAL_EXACT_SCAN)
        else:
            settings = (str(max(tuning.ef_search, k)), str(tuning.max_scan_tuples))
            await conn.execute(queries.SET_LOCAL_ITERATIVE_SCAN, settings)
        statement = queries.VECTOR_SEARCH.format(
            operator=sql.SQL(_OPERATORS[collection.distance]), plan=sql.SQL(plan.kind), **names
        )
        cur = await conn.execute(statement, values)
        return _chunk_rows(await cur.fetchall()), plan


async def _choose_plan(
    conn: Conn, names: dict[str, sql.Composable], values: dict[str, Any], tuning: VectorTuning
) -> VectorPlan:
    """Ask the planner how many rows match (tenant, collection, filter): few enough, and exact is cheaper."""
    cur = await conn.execute(queries.ESTIMATE_MATCHES.format(**names), values)
    row = await cur.fetchone()
    estimate = int(row[0][0]["Plan"]["Plan Rows"]) if row else 0
    return VectorPlan("exact" if estimate <= tuning.exact_below else "iterative", estimate)


async def keyword_search(
    conn: Conn, collection: Collection, tenant: str, text: str, *, k: int, where: Where = NO_FILTER
) -> list[ChunkRow]:
    """Chunks matching ``text`` as a web-style query (quotes, OR, -word), by Okapi BM25 (value: score)."""
    fragment, params = where
    statement = queries.KEYWORD_SEARCH.format(filter=fragment)
    async with conn.transaction():
        await tenant_scope(conn, tenant)
        cur = await conn.execute(
            statement,
            {
                **params,
                "operators": uses_search_operators(text),
                "config": collection.text_search_config,
                "text": text,
                "tenant": tenant,
                "collection": collection.id,
                "k": k,
            },
        )
        return _chunk_rows(await cur.fetchall())


_OPERATORS_RE = re.compile(r'"|(^|\s)-\w|\s+or\s+', re.IGNORECASE)


def uses_search_operators(text: str) -> bool:
    """True when a keyword query uses web-search syntax: a quoted phrase, ``or``, or ``-word``."""
    return _OPERATORS_RE.search(text) is not None


def _chunk_rows(rows: Sequence[Any]) -> list[ChunkRow]:
    return [
        ChunkRow(
            int(r[0]),
            str(r[1]),
            r[2],
            r[3],
            str(r[4]),
            int(r[5]),
            dict(r[6]),
            tuple(r[7]),
            int(r[8]),
            int(r[9]),
            float(r[10]),
        )
        for r in rows
    ]


def score(distance: str, value: float) -> float:
    """Turn a distance into a score where higher is better.

    cosine: 1 - distance (similarity in [-1, 1]); ip: pgvector's <#> is the negated inner product, so negate it back;
    l2: the negated Euclidean distance (0 is identical).
    """
    if distance == "cosine":
        return 1.0 - value
    return -value


# --- collections and documents as a tenant sees them (the HTTP service's resources) -------------------------------


async def register_collection(conn: Conn, tenant: str, collection_id: int) -> bool:
    """Record that ``tenant`` uses the collection; False when it did already."""
    cur = await conn.execute(queries.REGISTER_TENANT_COLLECTION, (tenant, collection_id))
    return await cur.fetchone() is not None


async def tenant_collections(conn: Conn, tenant: str, name: str | None = None) -> list[CollectionInfo]:
    """The tenant's collections (or the one named) with the tenant's own document and chunk counts."""
    await tenant_scope(conn, tenant)
    cur = await conn.execute(queries.TENANT_COLLECTIONS, {"tenant": tenant, "name": name})
    return [
        CollectionInfo(
            name=r[0],
            distance=r[1],
            text_search_config=r[2],
            model=r[3],
            dimensions=r[4],
            created_at=r[5],
            documents=int(r[6]),
            chunks=int(r[7]),
        )
        for r in await cur.fetchall()
    ]


async def delete_tenant_collection(conn: Conn, tenant: str, collection: Collection) -> int:
    """Delete the tenant's documents (with their chunks and vectors) in a collection and its use of it; return the
    number of documents deleted. The collection itself goes when no tenant uses it any more.

    The deletes run under the tenant's row-level security, so they cannot reach another tenant's rows whatever
    their WHERE clause says; only the final check for other users runs as the connecting role.
    """
    await tenant_scope(conn, tenant)
    cur = await conn.execute(queries.DELETE_TENANT_DOCUMENTS, (tenant, collection.id))
    deleted = cur.rowcount
    await conn.execute(queries.UNREGISTER_TENANT_COLLECTION, (tenant, collection.id))
    await conn.execute(queries.RESET_ROLE)
    await conn.execute(queries.DROP_UNUSED_COLLECTION, (collection.id,))
    return deleted


async def get_document(conn: Conn, tenant: str, collection: Collection, external_id: str) -> StoredDocument | None:
    await tenant_scope(conn, tenant)
    cur = await conn.execute(queries.GET_DOCUMENT, (tenant, collection.id, external_id))
    row = await cur.fetchone()
    if row is None:
        return None
    return StoredDocument(
        external_id=row[0],
        collection=collection.name,
        title=row[1],
        source=row[2],
        metadata=dict(row[3]),
        text=row[4],
        created_at=row[5],
        updated_at=row[6],
        chunks=int(row[7]),
    )


async def delete_document(conn: Conn, tenant: str, collection: Collection, external_id: str) -> bool:
    """Delete one of the tenant's documents with its chunks and vectors; False when the tenant has no such one."""
    await tenant_scope(conn, tenant)
    cur = await conn.execute(queries.DELETE_DOCUMENT, (tenant, collection.id, external_id))
    return await cur.fetchone() is not None


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(id=row[0], tenant=row[1], name=row[2], created_at=row[3], revoked_at=row[4])


async def insert_api_key(conn: Conn, key_id: str, tenant: str, name: str | None, key_hash: str) -> ApiKey:
    cur = await conn.execute(queries.INSERT_API_KEY, (key_id, tenant, name, key_hash))
    row = await cur.fetchone()
    assert row is not None
    return _api_key(row)


async def find_api_key(conn: Conn, key_hash: str) -> ApiKey | None:
    """The live (unrevoked) key with this digest."""
    cur = await conn.execute(queries.FIND_API_KEY, (key_hash,))
    row = await cur.fetchone()
    return None if row is None else _api_key(row)


async def revoke_api_key(conn: Conn, key_id: str) -> ApiKey | None:
    """Revoke a key (revoking twice keeps the first time); None when there is no such key."""
    cur = await conn.execute(queries.REVOKE_API_KEY, (key_id,))
    row = await cur.fetchone()
    return None if row is None else _api_key(row)


async def list_api_keys(conn: Conn, tenant: str | None = None) -> list[ApiKey]:
    cur = await conn.execute(queries.LIST_API_KEYS, {"tenant": tenant})
    return [_api_key(r) for r in await cur.fetchall()]


async def ping(conn: Conn) -> None:
    await conn.execute(queries.PING)
