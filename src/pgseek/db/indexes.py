"""The vector indexes of an embeddings table, by its collection's index kind and quantization (decision 0027), and
the partial per-tenant HNSW indexes of large tenants (decision 0028): their names, the statements that build and drop
them, and the record of their build facts (``vector_indexes``, migration 0014)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from psycopg import sql
from psycopg.rows import class_row, dict_row

from pgseek.db.scope import Conn, TenantConn

IndexKind = Literal["hnsw", "ivfflat"]
Quantization = Literal["none", "halfvec", "binary"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexKind)
QUANTIZATIONS: tuple[str, ...] = get_args(Quantization)
_OPCLASS_SUFFIXES = {"cosine": "cosine_ops", "l2": "l2_ops", "ip": "ip_ops"}
_OPERATORS = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}
IVFFLAT_SQRT_ABOVE = 1_000_000
"""pgvector's advice for lists: rows / 1000 up to a million rows, sqrt(rows) above."""

CREATE_INDEX = sql.SQL(
    "CREATE INDEX {concurrently}IF NOT EXISTS {index} ON {table} USING {method} ({key} {opclass}) WITH ({options})"
    "{where}"
)
TENANT_PREDICATE = sql.SQL(" WHERE tenant_id = {tenant} AND collection_id = {collection}")
RECORD_INDEX = sql.SQL("""
INSERT INTO vector_indexes (name, table_name, collection_id, kind, tenant_id, rows_at_build, lists)
VALUES ({name}, {table}, {collection}, {kind}, {tenant}, {rows}, {lists})
ON CONFLICT (name) DO UPDATE
SET rows_at_build = EXCLUDED.rows_at_build, lists = EXCLUDED.lists, built_at = now()""")
FORGET_INDEX = sql.SQL("DELETE FROM vector_indexes WHERE name = {name}")
RECORDED_INDEXES = """
SELECT name, table_name AS "table", collection_id, kind, tenant_id AS tenant, rows_at_build, lists, built_at::text
FROM vector_indexes WHERE table_name = ANY(%s) ORDER BY name"""
# Under the tenant's scope: its own partial index and the table's IVFFlat index, whatever other tenants have.
SEARCH_INDEXES = """
SELECT kind, lists FROM vector_indexes WHERE table_name = %(table)s AND (tenant_id IS NULL OR tenant_id = %(tenant)s)"""
COUNT_ROWS = sql.SQL("SELECT count(*) AS rows FROM {table}")
RENAME_INDEX = sql.SQL("ALTER INDEX IF EXISTS {old} RENAME TO {new}")


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The index a collection's searches use on one of its embeddings tables."""

    kind: str
    """hnsw or ivfflat"""
    quantization: str
    """none, halfvec or binary (HNSW only)"""
    distance: str
    dimensions: int

    @property
    def method(self) -> str:
        return self.kind

    def name(self, table: str) -> str:
        """The index's name: ``{table}_hnsw_{distance}`` for the plain HNSW index (the name it always had)."""
        if self.kind == "ivfflat":
            return f"{table}_ivfflat_{self.distance}"
        if self.quantization == "halfvec":
            return f"{table}_hnsw_half_{self.distance}"
        if self.quantization == "binary":
            return f"{table}_hnsw_bit"
        return f"{table}_hnsw_{self.distance}"

    def key(self) -> sql.Composable:
        """The indexed expression; a search orders by this very expression, or the index does not serve it."""
        if self.quantization == "halfvec":
            return sql.SQL("(embedding::halfvec({dims}))").format(dims=sql.Literal(self.dimensions))
        if self.quantization == "binary":
            return sql.SQL("(binary_quantize(embedding)::bit({dims}))").format(dims=sql.Literal(self.dimensions))
        return sql.SQL("embedding")

    def query_key(self) -> sql.Composable:
        """The query vector (parameter ``query``) as the index compares it."""
        if self.quantization == "halfvec":
            return sql.SQL("%(query)s::halfvec({dims})").format(dims=sql.Literal(self.dimensions))
        if self.quantization == "binary":
            return sql.SQL("binary_quantize(%(query)s)")
        return sql.SQL("%(query)s")

    def operator(self) -> str:
        return "<~>" if self.quantization == "binary" else _OPERATORS[self.distance]

    def opclass(self, column_type: str) -> str:
        """The operator class: of the column's type (vector, halfvec) unless the index quantizes it."""
        if self.quantization == "binary":
            return "bit_hamming_ops"
        prefix = "halfvec" if self.quantization == "halfvec" else column_type
        return f"{prefix}_{_OPCLASS_SUFFIXES[self.distance]}"

    def opclass_suffix(self) -> str:
        return "bit_hamming_ops" if self.quantization == "binary" else f"_{_OPCLASS_SUFFIXES[self.distance]}"


@dataclass(frozen=True, slots=True)
class BuildOptions:
    m: int
    ef_construction: int
    memory: str
    """maintenance_work_mem of the build"""
    ivfflat_min_rows: int
    """An IVFFlat index is built once its table holds this many rows; until then searches are exact."""


def ivfflat_lists(rows: int) -> int:
    """IVFFlat lists for a table of ``rows`` rows: rows / 1000 up to a million rows, sqrt(rows) above; at least 1."""
    if rows <= IVFFLAT_SQRT_ABOVE:
        return max(1, rows // 1000)
    return max(1, math.isqrt(rows))


def ivfflat_probes(lists: int, setting: int) -> int:
    """Lists an IVFFlat search probes: the setting, or (0) sqrt(lists), pgvector's starting point."""
    return min(lists, setting) if setting > 0 else max(1, round(math.sqrt(lists)))


def partial_index_name(table: str, collection_id: int, tenant: str) -> str:
    """A safe identifier for a tenant's partial index: tenant ids are arbitrary text, so the name holds a hash."""
    digest = hashlib.sha256(f"{collection_id}\n{tenant}".encode()).hexdigest()[:16]
    return f"{table}_p{digest}"


def create_statement(
    table: str,
    spec: IndexSpec,
    column_type: str,
    build: BuildOptions,
    *,
    index: str | None = None,
    lists: int | None = None,
    tenant: tuple[str, int] | None = None,
    concurrently: bool = False,
) -> sql.Composed:
    """CREATE INDEX of the spec's index (``index`` names another, a rebuild's); ``tenant`` (tenant, collection id)
    makes it the tenant's partial index."""
    if spec.kind == "ivfflat":
        options = sql.SQL("lists = {lists}").format(lists=sql.Literal(lists or 1))
    else:
        options = sql.SQL("m = {m}, ef_construction = {ef}").format(
            m=sql.Literal(build.m), ef=sql.Literal(build.ef_construction)
        )
    where = (
        TENANT_PREDICATE.format(tenant=sql.Literal(tenant[0]), collection=sql.Literal(tenant[1]))
        if tenant is not None
        else sql.SQL("")
    )
    return CREATE_INDEX.format(
        concurrently=sql.SQL("CONCURRENTLY " if concurrently else ""),
        index=sql.Identifier(index or spec.name(table)),
        table=sql.Identifier(table),
        method=sql.SQL(spec.method),
        key=spec.key(),
        opclass=sql.SQL(spec.opclass(column_type)),
        options=options,
        where=where,
    )


def rename_statement(old: str, new: str) -> sql.Composed:
    return RENAME_INDEX.format(old=sql.Identifier(old), new=sql.Identifier(new))


def record_statement(
    index: str,
    table: str,
    collection_id: int,
    kind: str,
    rows: int,
    *,
    tenant: str | None = None,
    lists: int | None = None,
) -> sql.Composed:
    """The record of a build, its values inlined: ``maintain`` runs it after the build, on its autocommit connection,
    as one more step."""
    values = {"collection": collection_id, "kind": kind, "tenant": tenant, "rows": rows, "lists": lists}
    return RECORD_INDEX.format(
        name=sql.Literal(index), table=sql.Literal(table), **{k: sql.Literal(v) for k, v in values.items()}
    )


def forget_statement(index: str) -> sql.Composed:
    return FORGET_INDEX.format(name=sql.Literal(index))


async def count_rows(conn: Conn, table: str) -> int:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(COUNT_ROWS.format(table=sql.Identifier(table)))
        row = await cur.fetchone()
    return 0 if row is None else int(row["rows"])


@dataclass(frozen=True, slots=True)
class RecordedIndex:
    name: str
    table: str
    collection_id: int
    kind: str
    tenant: str | None
    rows_at_build: int
    lists: int | None
    built_at: str


async def recorded_indexes(conn: Conn, tables: Sequence[str]) -> list[RecordedIndex]:
    """The build records of these tables' IVFFlat and partial indexes (an operator's view: every tenant's)."""
    async with conn.cursor(row_factory=class_row(RecordedIndex)) as cur:
        await cur.execute(RECORDED_INDEXES, (list(tables),))
        return await cur.fetchall()


@dataclass(frozen=True, slots=True)
class SearchIndexes:
    """What a tenant's vector search needs to know of the table's recorded indexes: the IVFFlat index's lists (None:
    not built yet) and whether the tenant has a partial index."""

    ivfflat_lists: int | None
    partial: bool


async def search_indexes(scope: TenantConn, table: str) -> SearchIndexes:
    """Read under the tenant's scope: row-level security shows it the table's IVFFlat record and its own partial
    index's, never another tenant's."""
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SEARCH_INDEXES, {"table": table, "tenant": scope.tenant})
        rows = await cur.fetchall()
    lists = next((int(r["lists"]) for r in rows if r["kind"] == "ivfflat" and r["lists"] is not None), None)
    return SearchIndexes(lists, any(r["kind"] == "partial" for r in rows))
