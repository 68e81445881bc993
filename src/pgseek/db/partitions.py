"""An embeddings table partitioned by tenant (decision 0031): a LIST partition for each tenant given its own, and a
DEFAULT partition hashed into N for every other tenant. Each leaf has its own vector index (the parent's index is a
partitioned index), and a search's ``tenant_id = ...`` prunes to one leaf, so it walks that leaf's graph only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from pgseek.db import queries
from pgseek.db.indexes import BuildOptions, IndexSpec, create_statement
from pgseek.db.scope import Conn
from pgseek.errors import BusyError

MOVE_LOCK_TIMEOUT = "5s"
"""How long a move waits for each lock. An ingest run holds a read lock on the table from its first hash check to
its end, on a connection that waits for the run's own writes, and those writes wait for the move: without a bound,
the move, the ingest and every search queued behind the move's attach would wait on one another for good."""

CREATE_REST = sql.SQL("CREATE TABLE {rest} PARTITION OF {table} DEFAULT PARTITION BY HASH (tenant_id)")
CREATE_BUCKET = sql.SQL(
    "CREATE TABLE {bucket} PARTITION OF {parent} FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"
)
# The new partition is built beside the table, filled and indexed, then attached: the attach finds the index and
# only links it. LIKE copies the columns (types, NOT NULL); the keys come with the attach.
CREATE_DETACHED = sql.SQL("CREATE TABLE {leaf} (LIKE {table} INCLUDING DEFAULTS)")
# Writers of every tenant wait (SHARE lets reads through) from the copy to the attach, so no row of the moved tenant
# can land in the default partition after the copy read it.
LOCK_FOR_MOVE = sql.SQL("LOCK TABLE {table} IN SHARE MODE")
COPY_TENANT = sql.SQL("INSERT INTO {leaf} SELECT * FROM {rest} WHERE tenant_id = {tenant}")
# The hash bucket that held the tenant: its statistics are analyzed again after the move, so that the report (and
# the planner) see it without the tenant's rows.
TENANT_BUCKET = sql.SQL("SELECT tableoid::regclass::text FROM {rest} WHERE tenant_id = {tenant} LIMIT 1")
DELETE_TENANT = sql.SQL("DELETE FROM {rest} WHERE tenant_id = {tenant}")
ATTACH = sql.SQL("ALTER TABLE {table} ATTACH PARTITION {leaf} FOR VALUES IN ({tenant})")
ANALYZE = sql.SQL("ANALYZE {leaf}")
# Leaves of the tree under a table, with their bounds and sizes. Estimates (reltuples), not counts: this is a report
# of a table that may hold millions of rows.
LEAVES = """
SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
       greatest(c.reltuples, 0)::bigint AS rows, pg_table_size(c.oid) AS table_bytes,
       pg_indexes_size(c.oid) AS index_bytes
FROM pg_partition_tree(%s::regclass) t
JOIN pg_class c ON c.oid = t.relid
WHERE t.isleaf
ORDER BY c.relname"""
IS_PARTITIONED = "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)"


@dataclass(frozen=True, slots=True)
class Leaf:
    """One partition that holds rows: a tenant's own, or one hash bucket of the rest."""

    name: str
    bound: str
    rows: int
    table_bytes: int
    index_bytes: int

    @property
    def tenant(self) -> str | None:
        """The tenant of its own partition (the bound is ``FOR VALUES IN ('...')``); None for a hash bucket."""
        prefix = "FOR VALUES IN ('"
        if not (self.bound.startswith(prefix) and self.bound.endswith("')")):
            return None
        return self.bound[len(prefix) : -2].replace("''", "'")


def rest_name(table: str) -> str:
    return f"{table}_rest"


def bucket_name(table: str, remainder: int) -> str:
    return f"{table}_h{remainder}"


def tenant_leaf_name(table: str, tenant: str) -> str:
    """A tenant's own partition: tenant ids are arbitrary text, so the name holds a hash (as partial indexes do)."""
    return f"{table}_t{hashlib.sha256(tenant.encode()).hexdigest()[:16]}"


async def create_layout(conn: Conn, table: str, buckets: int) -> None:
    """The default partition and its hash buckets under a freshly created ``PARTITION BY LIST`` table."""
    await conn.execute(CREATE_REST.format(rest=sql.Identifier(rest_name(table)), table=sql.Identifier(table)))
    await _create_buckets(conn, rest_name(table), table, buckets)


async def _create_buckets(conn: Conn, parent: str, table: str, buckets: int) -> None:
    """``buckets`` hash partitions of ``parent`` (a ``PARTITION BY HASH`` table), named after ``table``."""
    for remainder in range(buckets):
        await conn.execute(
            CREATE_BUCKET.format(
                bucket=sql.Identifier(bucket_name(table, remainder)),
                parent=sql.Identifier(parent),
                modulus=sql.Literal(buckets),
                remainder=sql.Literal(remainder),
            )
        )


async def is_partitioned(conn: Conn, table: str) -> bool:
    cur = await conn.execute(IS_PARTITIONED, (table,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def leaves(conn: Conn, table: str) -> list[Leaf]:
    async with conn.cursor(row_factory=class_row(Leaf)) as cur:
        await cur.execute(LEAVES, (table,))
        return await cur.fetchall()


async def move_tenant(
    conn: Conn, table: str, tenant: str, spec: IndexSpec, column_type: str, build: BuildOptions, *, has_index: bool
) -> int:
    """Give ``tenant`` its own partition of ``table``, in the caller's transaction: its rows are copied out of the
    default partition into a new table, which gets the collection's vector index and is attached for the tenant.
    Returns the rows moved. Writes to the table wait until the caller commits; searches go on until the attach,
    which holds the default partition exclusively while it checks that no row of the tenant is left there."""
    try:
        return await _move_tenant(conn, table, tenant, spec, column_type, build, has_index=has_index)
    except psycopg.errors.LockNotAvailable as exc:
        raise BusyError(
            f"moving tenant {tenant!r} to its own partition of {table} waited over {MOVE_LOCK_TIMEOUT} for a lock "
            "held by work in progress (an ingest run into the collection, a long search); nothing was changed: try "
            "again when fewer writes run"
        ) from exc


async def _move_tenant(
    conn: Conn, table: str, tenant: str, spec: IndexSpec, column_type: str, build: BuildOptions, *, has_index: bool
) -> int:
    t, leaf = sql.Identifier(table), sql.Identifier(tenant_leaf_name(table, tenant))
    rest, literal = sql.Identifier(rest_name(table)), sql.Literal(tenant)
    await conn.execute(queries.set_local({"lock_timeout": MOVE_LOCK_TIMEOUT}))
    await conn.execute(LOCK_FOR_MOVE.format(table=t))
    cur = await conn.execute(TENANT_BUCKET.format(rest=rest, tenant=literal))
    bucket = await cur.fetchone()
    await conn.execute(CREATE_DETACHED.format(leaf=leaf, table=t))
    cur = await conn.execute(COPY_TENANT.format(leaf=leaf, rest=rest, tenant=literal))
    moved = cur.rowcount
    await conn.execute(DELETE_TENANT.format(rest=rest, tenant=literal))
    if has_index:
        await conn.execute(create_statement(tenant_leaf_name(table, tenant), spec, column_type, build))
    await conn.execute(ATTACH.format(table=t, leaf=leaf, tenant=literal))
    await conn.execute(ANALYZE.format(leaf=leaf))
    if bucket is not None:
        await conn.execute(ANALYZE.format(leaf=sql.SQL(bucket[0])))  # regclass text: quoted as needed
    return moved


# --- the chunks table, partitioned by tenant at setup ------------------------------------------------------------
#
# chunks is shared by every collection, so partitioning it is the database's choice, made once, while it is empty
# (decision 0031): the table is recreated as PARTITION BY HASH (tenant_id) with everything that hangs on it (keys,
# indexes, triggers, row-level security, grants, the foreign keys of the embeddings tables), read from the catalog so
# that what migrations added is carried over whatever it is.

CHUNKS_ROWS = "SELECT EXISTS (SELECT FROM chunks) AS has_rows"
LOCK_CHUNKS = "LOCK TABLE chunks IN ACCESS EXCLUSIVE MODE"
CHUNKS_CONSTRAINTS = """
SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
WHERE conrelid = 'chunks'::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname"""
CHUNKS_INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'chunks'::regclass AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.oid)
ORDER BY 1"""
CHUNKS_TRIGGERS = """
SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger WHERE tgrelid = 'chunks'::regclass AND NOT tgisinternal
ORDER BY tgname"""
CHUNKS_POLICIES = """
SELECT policyname, permissive, roles::text[] AS roles, cmd, qual, with_check FROM pg_policies
WHERE schemaname = current_schema() AND tablename = 'chunks' ORDER BY policyname"""
CHUNKS_SECURITY = "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'chunks'::regclass"
CHUNKS_GRANTS = """
SELECT grantee, string_agg(privilege_type, ', ' ORDER BY privilege_type) AS privileges
FROM information_schema.role_table_grants
WHERE table_schema = current_schema() AND table_name = 'chunks' AND grantee <> current_user
GROUP BY grantee ORDER BY grantee"""
REFERENCING_CHUNKS = """
SELECT conrelid::regclass::text AS "table", conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
WHERE confrelid = 'chunks'::regclass AND contype = 'f' ORDER BY 1, 2"""
CHUNK_ID_NEXT = "SELECT coalesce(max(last_value), 0) + 1 FROM pg_sequences WHERE sequencename = %s"
CHUNK_ID_SEQUENCE = "SELECT split_part(pg_get_serial_sequence('chunks', 'id'), '.', 2)"


async def chunks_partitioned(conn: Conn) -> int:
    """The hash buckets of the chunks table; 0 when it is one table."""
    cur = await conn.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass"
        " AND (SELECT relkind FROM pg_class WHERE oid = 'chunks'::regclass) = 'p'"
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def partition_chunks(conn: Conn, buckets: int) -> None:
    """Recreate the empty chunks table hash-partitioned by tenant into ``buckets``, in the caller's transaction.
    Refuses a table that holds rows (ValueError): that is a rewrite of every chunk, for a dump and reload."""
    await conn.execute(LOCK_CHUNKS)
    cur = await conn.execute(CHUNKS_ROWS)
    row = await cur.fetchone()
    if row is not None and row[0]:
        raise ValueError("chunks holds rows already")
    async with conn.cursor() as c:
        constraints = await (await c.execute(CHUNKS_CONSTRAINTS)).fetchall()
        plain_indexes = await (await c.execute(CHUNKS_INDEXES)).fetchall()
        triggers = [r[0] for r in await (await c.execute(CHUNKS_TRIGGERS)).fetchall()]
        policies = await (await c.execute(CHUNKS_POLICIES)).fetchall()
        security = await (await c.execute(CHUNKS_SECURITY)).fetchone()
        grants = await (await c.execute(CHUNKS_GRANTS)).fetchall()
        referencing = await (await c.execute(REFERENCING_CHUNKS)).fetchall()
        sequence = (await (await c.execute(CHUNK_ID_SEQUENCE)).fetchone() or ("",))[0]
        next_id = (await (await c.execute(CHUNK_ID_NEXT, (sequence,))).fetchone() or (1,))[0]
    for table, name, _ in referencing:
        await conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(table), sql.Identifier(name)))
    # The old table's names go with it, so that the new one takes them all.
    await conn.execute("ALTER TABLE chunks RENAME TO chunks_unpartitioned")
    for name, _ in constraints:
        if name.startswith("chunks"):
            await conn.execute(
                sql.SQL("ALTER TABLE chunks_unpartitioned RENAME CONSTRAINT {} TO {}").format(
                    sql.Identifier(name), sql.Identifier(f"old_{name}")
                )
            )
    for name, _ in plain_indexes:
        await conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(f"old_{name}"))
        )
    await conn.execute(
        "CREATE TABLE chunks (LIKE chunks_unpartitioned INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY "
        "INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING STATISTICS INCLUDING COMMENTS) PARTITION BY HASH (tenant_id)"
    )
    await conn.execute(sql.SQL("ALTER TABLE chunks ALTER COLUMN id RESTART WITH {}").format(sql.Literal(next_id)))
    await _create_buckets(conn, "chunks", "chunks", buckets)
    for name, definition in constraints:
        await conn.execute(
            sql.SQL("ALTER TABLE chunks ADD CONSTRAINT {} {}").format(sql.Identifier(name), sql.SQL(definition))
        )
    for _, definition in plain_indexes:
        await conn.execute(sql.SQL(definition))
    for definition in triggers:
        await conn.execute(sql.SQL(definition))
    if security is not None and security[0]:
        await conn.execute("ALTER TABLE chunks ENABLE ROW LEVEL SECURITY")
    if security is not None and security[1]:
        await conn.execute("ALTER TABLE chunks FORCE ROW LEVEL SECURITY")
    for name, permissive, roles, command, using, check in policies:
        statement = sql.SQL("CREATE POLICY {} ON chunks AS {} FOR {} TO {}").format(
            sql.Identifier(name),
            sql.SQL(permissive),
            sql.SQL(command),
            sql.SQL(", ").join(sql.Identifier(r) if r != "public" else sql.SQL("PUBLIC") for r in roles),
        )
        if using is not None:
            statement += sql.SQL(" USING ({})").format(sql.SQL(using))
        if check is not None:
            statement += sql.SQL(" WITH CHECK ({})").format(sql.SQL(check))
        await conn.execute(statement)
    for grantee, privileges in grants:
        await conn.execute(sql.SQL("GRANT {} ON chunks TO {}").format(sql.SQL(privileges), sql.Identifier(grantee)))
    await conn.execute("DROP TABLE chunks_unpartitioned")
    for table, name, definition in referencing:
        await conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
