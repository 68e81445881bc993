"""The statements ``pgseek maintain`` runs, each online: none takes a lock that stops searches (reads), and only
the index builds make writers wait for their last step. REINDEX ... CONCURRENTLY, CREATE/DROP INDEX CONCURRENTLY and
VACUUM refuse to run inside a transaction block, so they run on a connection of their own in autocommit mode, outside
the pool: its session settings (maintenance_work_mem) end with it and never reach a pooled connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pgseek.db.connect import Pool, classify
from pgseek.db.indexes import BuildOptions, IndexSpec, create_statement
from pgseek.db.scope import Conn
from pgseek.db.writes import embedding_type

REINDEX_CONCURRENTLY = sql.SQL("REINDEX INDEX CONCURRENTLY {index}")
DROP_INDEX_CONCURRENTLY = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {index}")
VACUUM_ANALYZE = sql.SQL("VACUUM (ANALYZE) {table}")
# Storage parameters take a SHARE UPDATE EXCLUSIVE lock: reads and writes go on. autovacuum_enabled is reset (to
# the server's autovacuum), not forced on: turning it off on a pgseek table is what this undoes.
SET_AUTOVACUUM = sql.SQL(
    "ALTER TABLE {table} RESET (autovacuum_enabled), "
    "SET (autovacuum_vacuum_scale_factor = {vacuum}, autovacuum_analyze_scale_factor = {analyze})"
)
# A partitioned table takes no storage parameters: each partition gets them, in one statement.
SET_PARTITIONS_AUTOVACUUM = sql.SQL(
    "DO $pgseek$ DECLARE leaf regclass; BEGIN "
    "FOR leaf IN SELECT relid FROM pg_partition_tree({table}::regclass) WHERE isleaf LOOP "
    "EXECUTE format('ALTER TABLE %s RESET (autovacuum_enabled), SET (autovacuum_vacuum_scale_factor = %s, "
    "autovacuum_analyze_scale_factor = %s)', leaf, {vacuum}, {analyze}); "
    "END LOOP; END $pgseek$"
)
CREATE_PREWARM = sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
PREWARM = sql.SQL("SELECT pg_prewarm({index}::regclass)")
# A partitioned index has no storage: its partitions' indexes are loaded.
PREWARM_PARTITIONS = sql.SQL("SELECT pg_prewarm(relid) FROM pg_partition_tree({index}::regclass) WHERE isleaf")
# One ``maintain --apply`` at a time: a session-level lock on maintenance's own connection, gone with it.
# 123917224011117 follows the migration and setup locks' ids (queries.py).
TRY_MAINTENANCE_LOCK = "SELECT pg_try_advisory_lock(123917224011117)"
# A session setting on maintenance's own connection: the index builds' memory (REINDEX takes no SET LOCAL).
SET_MAINTENANCE_WORK_MEM = "SELECT set_config('maintenance_work_mem', %s, false)"


@dataclass(frozen=True, slots=True)
class Statement:
    """One maintenance statement: ``text`` to show in a dry run, ``composed`` to run."""

    text: str
    composed: sql.Composed


def _statement(composed: sql.Composed) -> Statement:
    return Statement(composed.as_string(None), composed)


def reindex(index: str) -> Statement:
    return _statement(REINDEX_CONCURRENTLY.format(index=sql.Identifier(index)))


def drop_index(index: str) -> Statement:
    return _statement(DROP_INDEX_CONCURRENTLY.format(index=sql.Identifier(index)))


def vacuum(table: str) -> Statement:
    return _statement(VACUUM_ANALYZE.format(table=sql.Identifier(table)))


def autovacuum(
    table: str, *, vacuum_scale_factor: float, analyze_scale_factor: float, partitioned: bool = False
) -> Statement:
    """The scale factors on the table, or, ``partitioned``, on each of its partitions. pgseek's table names (and the
    factors, floats) are all that goes into the DO block's text."""
    if partitioned:
        statement = SET_PARTITIONS_AUTOVACUUM.format(
            table=sql.Literal(sql.Identifier(table).as_string(None)),
            vacuum=sql.Literal(str(vacuum_scale_factor)),
            analyze=sql.Literal(str(analyze_scale_factor)),
        )
        return _statement(statement)
    return _statement(
        SET_AUTOVACUUM.format(
            table=sql.Identifier(table),
            vacuum=sql.Literal(vacuum_scale_factor),
            analyze=sql.Literal(analyze_scale_factor),
        )
    )


def prewarm(index: str, *, partitioned: bool = False) -> Statement:
    statement = PREWARM_PARTITIONS if partitioned else PREWARM
    return _statement(statement.format(index=sql.Literal(sql.Identifier(index).as_string(None))))


def create_prewarm() -> Statement:
    return _statement(sql.Composed([CREATE_PREWARM]))


async def build_index(
    conn: Conn,
    table: str,
    spec: IndexSpec,
    build: BuildOptions,
    *,
    index: str | None = None,
    lists: int | None = None,
    tenant: tuple[str, int] | None = None,
    partitioned: bool = False,
) -> Statement:
    """CREATE INDEX CONCURRENTLY of the collection's index on the table (the name ``ensure_vector_index`` uses), or,
    with ``index``, of a copy to swap in; ``tenant`` (tenant, collection id): its partial index instead. A
    ``partitioned`` table's index is built by a plain CREATE INDEX (PostgreSQL builds no partitioned index
    concurrently): searches go on, writes wait for it."""
    column_type = await embedding_type(conn, table)
    concurrently = not partitioned
    return _statement(
        create_statement(
            table, spec, column_type, build, index=index, lists=lists, tenant=tenant, concurrently=concurrently
        )
    )


def composed(statement: sql.Composed) -> Statement:
    """Any other statement ``maintain`` runs (renames, the build records)."""
    return _statement(statement)


@asynccontextmanager
async def maintenance_connection(pool: Pool, *, memory: str) -> AsyncIterator[Conn]:
    """An autocommit connection of its own, with ``memory`` as maintenance_work_mem for the index builds."""
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}  # open_pool gives a dict; the type allows more
    try:
        conn = await psycopg.AsyncConnection.connect(str(pool.conninfo), **{**kwargs, "autocommit": True})
    except psycopg.Error as exc:
        raise classify(exc, "opening a connection for maintenance") from exc
    async with conn:
        await conn.execute(SET_MAINTENANCE_WORK_MEM, (memory,))
        yield conn


async def claim(conn: Conn) -> bool:
    """Take the maintenance lock on ``maintenance_connection``'s connection; False when another run holds it."""
    cur = await conn.execute(TRY_MAINTENANCE_LOCK)
    row = await cur.fetchone()
    return bool(row and row[0])


async def run(conn: Conn, statement: Statement) -> None:
    """Run one statement on ``maintenance_connection``'s connection; pgseek's error when it fails."""
    try:
        await conn.execute(statement.composed)
    except psycopg.Error as exc:
        raise classify(exc, f"running {statement.text}") from exc
