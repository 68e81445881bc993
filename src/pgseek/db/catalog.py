"""Tenants, collections, embedding models and their vector tables, and a tenant's own view of collections and
documents. Deployment-wide rows (collections, models) are read as the connecting role; a tenant's rows only through
``TenantConn`` (scope.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import class_row, dict_row

from pgseek.db import queries, versions
from pgseek.db.indexes import IndexSpec
from pgseek.db.scope import Conn, TenantConn
from pgseek.errors import ConfigurationError, NotFoundError
from pgseek.types import CollectionInfo, DocumentPage, DocumentSummary, ModelInfo, StoredDocument


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection as one version of it is searched: its active version unless another was asked for."""

    id: int
    name: str
    text_search_config: str
    distance: str
    embedding_model_id: int | None
    text_search_config_oid: int
    precision: str | None = None
    """How the version's vectors are stored (float32, float16); None until its first ingest makes a version."""
    version_id: int | None = None
    table: str | None = None
    """The version's embeddings table."""
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    version_state: str | None = None
    model_provider: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_dimensions: int | None = None
    model_max_tokens: int | None = None
    model_normalized: bool | None = None
    fusion: dict[str, Any] | None = None
    """The tuned hybrid fusion (migration 0010) as stored; None: the default."""
    index_kind: str = "hnsw"
    """hnsw or ivfflat (migration 0014), fixed when the collection is created."""
    quantization: str = "none"
    """none, halfvec or binary: what its HNSW index is built over (decision 0027)."""
    partitions: int = 0
    """Hash buckets of its embeddings tables' default partition; 0: not partitioned (decision 0031)."""

    @property
    def index(self) -> IndexSpec:
        """The index its version's searches use."""
        return IndexSpec(self.index_kind, self.quantization, self.distance, int(self.model_dimensions or 0))

    @property
    def model(self) -> ModelInfo | None:
        """The identity of the version's model: the query must be embedded by that very model."""
        if self.model_provider is None or self.model_name is None or self.model_version is None:
            return None
        return ModelInfo(
            provider=self.model_provider,
            name=self.model_name,
            dimensions=int(self.model_dimensions or 0),
            version=self.model_version,
            max_tokens=self.model_max_tokens,
            precision=self.precision or "float32",
            normalized=bool(self.model_normalized),
        )


async def setup_lock(conn: Conn) -> None:
    await conn.execute(queries.SETUP_LOCK)


async def ensure_tenant(conn: Conn, tenant: str) -> None:
    await conn.execute(queries.ENSURE_TENANT, (tenant,))


async def get_collection(
    conn: Conn,
    name: str,
    *,
    create: bool = False,
    distance: str = "cosine",
    text_search_config: str = "english",
    version: int | None = None,
    index_kind: str = "hnsw",
    quantization: str = "none",
    partitions: int = 0,
) -> Collection:
    """A collection by name with its active version (or the version ``version``, whatever its state); ``create``
    makes it when missing. An existing one keeps its own settings."""
    if create:
        cur = await conn.execute(queries.TEXT_SEARCH_CONFIG_EXISTS, (text_search_config,))
        if await cur.fetchone() is None:
            raise ConfigurationError(
                f"text search configuration {text_search_config!r} does not exist in this database; use 'english', "
                "'simple' (no stemming, any language) or another name from pg_ts_config"
            )
        await conn.execute(
            queries.ENSURE_COLLECTION, (name, distance, text_search_config, index_kind, quantization, partitions)
        )
    async with conn.cursor(row_factory=class_row(Collection)) as cur:
        await cur.execute(queries.GET_COLLECTION, {"name": name, "version": version})
        found = await cur.fetchone()
    if found is None:
        raise NotFoundError(f"collection {name!r} does not exist; ingest into it first (pgseek ingest --collection)")
    return found


async def ensure_active_version(
    conn: Conn, collection: Collection, info: ModelInfo, *, chunk_tokens: int, chunk_overlap: int
) -> Collection:
    """The collection with its active version; its first ingest creates one from the model and chunking given.
    Run under ``setup_lock``, so that two first ingests make one version."""
    if collection.version_id is not None:
        return collection
    await versions.create_version(
        conn, collection.id, info, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, state="active"
    )
    return await get_collection(conn, collection.name)


async def collection_model(conn: Conn, name: str) -> ModelInfo | None:
    """The identity of the model a collection is embedded with; None when it does not exist or holds no vectors."""
    async with conn.cursor(row_factory=class_row(ModelInfo)) as cur:
        await cur.execute(queries.COLLECTION_MODEL, (name,))
        return await cur.fetchone()


@dataclass(frozen=True, slots=True)
class VectorTable:
    """An embeddings table some collection uses, with that collection's distance: an HNSW index pgseek keeps."""

    table: str
    distance: str
    collection_id: int
    index_kind: str
    quantization: str
    dimensions: int
    partitions: int = 0
    """Hash buckets of the table's default partition; 0: one table (decision 0031)."""

    @property
    def index(self) -> IndexSpec:
        return IndexSpec(self.index_kind, self.quantization, self.distance, self.dimensions)


async def vector_tables_in_use(conn: Conn) -> list[VectorTable]:
    async with conn.cursor(row_factory=class_row(VectorTable)) as cur:
        await cur.execute(queries.VECTOR_TABLES_IN_USE)
        return await cur.fetchall()


@dataclass(frozen=True, slots=True)
class CollectionVectors:
    """A collection's embeddings table with what its HNSW index depends on: what the doctor and maintenance check."""

    collection: str
    collection_id: int
    table: str
    distance: str
    dimensions: int
    precision: str
    index_kind: str = "hnsw"
    quantization: str = "none"
    partitions: int = 0
    """Hash buckets of the table's default partition; 0: one table (decision 0031)."""

    @property
    def index(self) -> IndexSpec:
        return IndexSpec(self.index_kind, self.quantization, self.distance, self.dimensions)


async def collection_vector_tables(conn: Conn, collection: str | None = None) -> list[CollectionVectors]:
    """Every collection's embeddings table (or the named collection's), by collection name. The doctor and
    ``maintain`` find vector tables here only."""
    async with conn.cursor(row_factory=class_row(CollectionVectors)) as cur:
        await cur.execute(queries.COLLECTION_VECTOR_TABLES, {"name": collection})
        return await cur.fetchall()


async def register_collection(conn: Conn, tenant: str, collection_id: int) -> bool:
    """Record that ``tenant`` uses the collection; False when it did already."""
    cur = await conn.execute(queries.REGISTER_TENANT_COLLECTION, (tenant, collection_id))
    return await cur.fetchone() is not None


async def tenant_collections(scope: TenantConn, name: str | None = None) -> list[CollectionInfo]:
    """The tenant's collections (or the one named) with the tenant's own document and chunk counts."""
    async with scope.conn.cursor(row_factory=class_row(CollectionInfo)) as cur:
        await cur.execute(queries.TENANT_COLLECTIONS, {"tenant": scope.tenant, "name": name})
        return await cur.fetchall()


async def delete_tenant_collection(scope: TenantConn, collection: Collection) -> int:
    """Delete the tenant's documents (with their chunks and vectors) in a collection and its use of it; return the
    number of documents deleted. The collection itself goes when no tenant uses it any more.

    The deletes run under the tenant's row-level security, so they cannot reach another tenant's rows whatever
    their WHERE clause says; only the final check for other users runs as the connecting role, which ends the
    scope: nothing may use ``scope`` afterwards.
    """
    conn = scope.conn
    cur = await conn.execute(queries.DELETE_TENANT_DOCUMENTS, (scope.tenant, collection.id))
    deleted = cur.rowcount
    await conn.execute(queries.UNREGISTER_TENANT_COLLECTION, (scope.tenant, collection.id))
    await conn.execute(queries.RESET_ROLE)
    owned = await conn.execute(queries.OWNED_VERSION_TABLES, (collection.id,))
    tables = [str(r[0]) for r in await owned.fetchall()]
    dropped = await conn.execute(queries.DROP_UNUSED_COLLECTION, (collection.id,))
    if await dropped.fetchone() is not None:
        for table in tables:
            await conn.execute(queries.DROP_TABLE.format(table=sql.Identifier(table)))
    return deleted


async def get_document(scope: TenantConn, collection: Collection, external_id: str) -> StoredDocument | None:
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        values = {
            "tenant": scope.tenant,
            "collection": collection.id,
            "id": external_id,
            "version": collection.version_id,
        }
        await cur.execute(queries.GET_DOCUMENT, values)
        row = await cur.fetchone()
    return None if row is None else StoredDocument(collection=collection.name, **row)


async def delete_document(scope: TenantConn, collection: Collection, external_id: str) -> bool:
    """Delete one of the tenant's documents with its chunks and vectors; False when the tenant has no such one."""
    cur = await scope.conn.execute(queries.DELETE_DOCUMENT, (scope.tenant, collection.id, external_id))
    return await cur.fetchone() is not None


async def list_documents(
    scope: TenantConn,
    collection: Collection,
    *,
    limit: int,
    after: str | None = None,
    prefix: str | None = None,
    source_prefix: str | None = None,
) -> DocumentPage:
    """A page of the tenant's documents in a collection, after ``after`` in external-id order."""
    params = {
        "tenant": scope.tenant,
        "collection": collection.id,
        "version": collection.version_id,
        "after": after,
        "prefix": prefix,
        "source_prefix": source_prefix,
        "limit": limit + 1,  # one more than asked tells whether another page follows
    }
    async with scope.conn.cursor(row_factory=class_row(DocumentSummary)) as cur:
        await cur.execute(queries.LIST_DOCUMENTS, params)
        rows = await cur.fetchall()
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.COUNT_DOCUMENTS, params)
        counted = await cur.fetchone()
    total = 0 if counted is None else int(counted["total"])
    page = rows[:limit]
    next_after = page[-1].external_id if len(rows) > limit else None
    return DocumentPage(collection=collection.name, documents=tuple(page), next_after=next_after, total=total)


async def delete_documents(scope: TenantConn, collection: Collection, external_ids: Sequence[str]) -> int:
    """Delete the tenant's documents with these ids (chunks and vectors with them); how many there were."""
    cur = await scope.conn.execute(queries.DELETE_DOCUMENTS, (scope.tenant, collection.id, list(external_ids)))
    return cur.rowcount
