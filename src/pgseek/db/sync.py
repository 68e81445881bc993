"""Synced application tables (``pgseek sync``): a source row, the triggers that turn the table's changes into jobs
(migration 0013's ``pgseek_sync_capture``), the jobs for the rows already there, and the rows read when jobs run.

The application's table lives in pgseek's database. Its triggers record the key and the operation only; a job reads
the row as it is when the job runs, so that a burst of updates to one row is one embed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from pgseek.db.scope import Conn
from pgseek.errors import ConflictError, InputError, NotFoundError


@dataclass(frozen=True, slots=True)
class SyncSource:
    id: int
    collection: str
    tenant_id: str
    table_name: str
    id_column: str
    id_type: str
    text_column: str
    title_column: str | None
    metadata_columns: list[str]
    tenant_column: str | None
    created_at: datetime

    @property
    def document_source(self) -> str:
        """The ``source`` of the documents this table feeds (a TRUNCATE deletes those)."""
        return f"table:{self.table_name}"


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A synced row as a job reads it."""

    key: str
    text: str | None
    title: str | None
    metadata: dict[str, Any]
    tenant: str


_SOURCE_COLUMNS = """id, collection, tenant_id, table_name, id_column, id_type, text_column, title_column,
metadata_columns, tenant_column, created_at"""
RESOLVE_TABLE = "SELECT to_regclass(%s)::text AS name, to_regclass(%s)::oid AS oid"
TABLE_COLUMNS = """
SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped"""
INSERT_SOURCE = f"""
INSERT INTO sync_sources (collection, tenant_id, table_name, id_column, id_type, text_column, title_column,
                          metadata_columns, tenant_column)
VALUES (%(collection)s, %(tenant)s, %(table)s, %(id_column)s, %(id_type)s, %(text_column)s, %(title_column)s,
        %(metadata_columns)s, %(tenant_column)s)
ON CONFLICT (table_name, collection) DO NOTHING
RETURNING {_SOURCE_COLUMNS}"""
LIST_SOURCES = f"SELECT {_SOURCE_COLUMNS} FROM sync_sources ORDER BY id"
GET_SOURCES = f"SELECT {_SOURCE_COLUMNS} FROM sync_sources WHERE id = ANY (%s)"
FIND_SOURCE = f"SELECT {_SOURCE_COLUMNS} FROM sync_sources WHERE table_name = to_regclass(%s)::text"
DELETE_SOURCE = "DELETE FROM sync_sources WHERE id = %s"
CREATE_ROW_TRIGGER = sql.SQL(
    "CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION pgseek_sync_capture({source})"
)
CREATE_TRUNCATE_TRIGGER = sql.SQL(
    "CREATE TRIGGER {name} AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION pgseek_sync_capture({source})"
)
DROP_TRIGGER = sql.SQL("DROP TRIGGER IF EXISTS {name} ON {table}")
# Every row already in the table, as upsert jobs (merging into any that wait).
QUEUE_EXISTING = sql.SQL("""
INSERT INTO jobs AS j (tenant_id, collection, kind, external_id, source_id)
SELECT DISTINCT ON (1, 4) {tenant}, %(collection)s, 'upsert', {key}::text, %(source)s FROM {table}
WHERE {key} IS NOT NULL
ON CONFLICT (tenant_id, collection, external_id) WHERE state = 'pending'
DO UPDATE SET kind = 'upsert', payload = NULL, source_id = excluded.source_id, run_after = clock_timestamp()""")
READ_ROWS = sql.SQL("""
SELECT {key}::text AS key, {text}::text AS text, {title}::text AS title, {metadata} AS metadata, {tenant} AS tenant
FROM {table} WHERE {key} = ANY (%(keys)s::text[]::{key_type}[])""")


def _table(source: SyncSource) -> sql.Composable:
    schema, _, name = source.table_name.rpartition(".")
    # to_regclass(...)::text quotes what needs quoting; split back into identifiers to compose them again.
    parts = [p.strip('"') for p in (schema, name) if p]
    return sql.Identifier(*parts)


def _trigger_names(source: SyncSource) -> tuple[sql.Identifier, sql.Identifier]:
    return sql.Identifier(f"pgseek_sync_{source.id}"), sql.Identifier(f"pgseek_sync_{source.id}_truncate")


def _tenant_expr(source: SyncSource) -> sql.Composable:
    if source.tenant_column is None:
        return sql.Literal(source.tenant_id)
    return sql.SQL("coalesce({}::text, {})").format(sql.Identifier(source.tenant_column), sql.Literal(source.tenant_id))


async def add_source(
    conn: Conn,
    *,
    collection: str,
    tenant: str,
    table: str,
    id_column: str,
    text_column: str,
    title_column: str | None,
    metadata_columns: Sequence[str],
    tenant_column: str | None,
) -> tuple[SyncSource, int]:
    """Point ``collection`` at ``table`` in the caller's transaction: record the source, install its triggers and
    queue its rows; the source and the jobs queued. InputError names a missing table or column; ConflictError when
    the table already feeds the collection."""
    cur = await conn.execute(RESOLVE_TABLE, (table, table))
    found = await cur.fetchone()
    if found is None or found[0] is None:
        raise InputError(f"no table {table!r} in pgseek's database: create it there first", field="table")
    columns = {str(r[0]): str(r[1]) for r in await (await conn.execute(TABLE_COLUMNS, (found[1],))).fetchall()}
    named = [("id-column", id_column), ("text-column", text_column)]
    named += [("title-column", title_column)] if title_column else []
    named += [("tenant-column", tenant_column)] if tenant_column else []
    named += [("metadata-column", c) for c in metadata_columns]
    for option, column in named:
        if column not in columns:
            listed = ", ".join(sorted(columns))
            raise InputError(f"table {found[0]} has no column {column!r} (--{option}); it has: {listed}", field=option)
    values = {
        "collection": collection,
        "tenant": tenant,
        "table": found[0],
        "id_column": id_column,
        "id_type": columns[id_column],
        "text_column": text_column,
        "title_column": title_column,
        "metadata_columns": list(metadata_columns),
        "tenant_column": tenant_column,
    }
    async with conn.cursor(row_factory=class_row(SyncSource)) as rows:
        await rows.execute(INSERT_SOURCE, values)
        source = await rows.fetchone()
    if source is None:
        raise ConflictError(f"table {found[0]} already feeds collection {collection!r} (pgseek sync list)")
    row_trigger, truncate_trigger = _trigger_names(source)
    await conn.execute(
        CREATE_ROW_TRIGGER.format(name=row_trigger, table=_table(source), source=sql.Literal(str(source.id)))
    )
    await conn.execute(
        CREATE_TRUNCATE_TRIGGER.format(name=truncate_trigger, table=_table(source), source=sql.Literal(str(source.id)))
    )
    statement = QUEUE_EXISTING.format(tenant=_tenant_expr(source), key=sql.Identifier(id_column), table=_table(source))
    queued = await conn.execute(statement, {"collection": collection, "source": source.id})
    return source, queued.rowcount


async def list_sources(conn: Conn) -> list[SyncSource]:
    async with conn.cursor(row_factory=class_row(SyncSource)) as cur:
        await cur.execute(LIST_SOURCES)
        return list(await cur.fetchall())


async def sources_by_id(conn: Conn, ids: Sequence[int]) -> dict[int, SyncSource]:
    async with conn.cursor(row_factory=class_row(SyncSource)) as cur:
        await cur.execute(GET_SOURCES, (list(ids),))
        return {s.id: s for s in await cur.fetchall()}


async def remove_source(conn: Conn, table: str, collection: str | None) -> list[SyncSource]:
    """Drop the triggers of ``table`` (feeding ``collection``, or any) and forget the sources, with their
    jobs, in the caller's transaction; the sources removed. The documents stay. NotFoundError when none matched."""
    try:
        async with conn.cursor(row_factory=class_row(SyncSource)) as cur:
            await cur.execute(FIND_SOURCE, (table,))
            found = [s for s in await cur.fetchall() if collection is None or s.collection == collection]
    except psycopg.errors.InvalidName:
        found = []
    if not found:
        raise NotFoundError(f"table {table!r} feeds no collection{'' if collection is None else f' {collection!r}'}")
    for source in found:
        for trigger in _trigger_names(source):
            await conn.execute(DROP_TRIGGER.format(name=trigger, table=_table(source)))
        await conn.execute(DELETE_SOURCE, (source.id,))
    return found


async def read_rows(conn: Conn, source: SyncSource, keys: Sequence[str]) -> dict[str, SourceRow]:
    """The source's rows with these keys, as they are now (one snapshot), by key; a key absent was deleted."""
    metadata = sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(c), sql.Identifier(c)) for c in source.metadata_columns)
    )
    statement = READ_ROWS.format(
        key=sql.Identifier(source.id_column),
        text=sql.Identifier(source.text_column),
        title=sql.Identifier(source.title_column) if source.title_column else sql.NULL,
        metadata=metadata,
        tenant=_tenant_expr(source),
        table=_table(source),
        key_type=sql.SQL(source.id_type),  # format_type's own output: quoted where it needs to be
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, {"keys": list(keys)})
        return {str(r["key"]): SourceRow(**r) for r in await cur.fetchall()}
