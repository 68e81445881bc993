"""An embeddings table partitioned by tenant (decision 0031): a LIST partition for each tenant given its own, and a
DEFAULT partition hashed into N for every other tenant. Each leaf has its own vector index (the parent's index is a
partitioned index), and a search's ``tenant_id = ...`` prunes to one leaf, so it walks that leaf's graph only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import class_row

from pgseek.db.indexes import BuildOptions, IndexSpec, create_statement
from pgseek.db.scope import Conn

CREATE_REST = sql.SQL("CREATE TABLE {rest} PARTITION OF {table} DEFAULT PARTITION BY HASH (tenant_id)")
CREATE_BUCKET = sql.SQL(
    "CREATE TABLE {bucket} PARTITION OF {rest} FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"
)
# The new partition is built beside the table, filled and indexed, then attached: the attach finds the index and
# only links it. LIKE copies the columns (types, NOT NULL); the keys come with the attach.
CREATE_DETACHED = sql.SQL("CREATE TABLE {leaf} (LIKE {table} INCLUDING DEFAULTS)")
# Writers of every tenant wait (SHARE lets reads through) from the copy to the attach, so no row of the moved tenant
# can land in the default partition after the copy read it.
LOCK_FOR_MOVE = sql.SQL("LOCK TABLE {table} IN SHARE MODE")
COPY_TENANT = sql.SQL("INSERT INTO {leaf} SELECT * FROM {rest} WHERE tenant_id = {tenant}")
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
    t, rest = sql.Identifier(table), sql.Identifier(rest_name(table))
    await conn.execute(CREATE_REST.format(rest=rest, table=t))
    for remainder in range(buckets):
        await conn.execute(
            CREATE_BUCKET.format(
                bucket=sql.Identifier(bucket_name(table, remainder)),
                rest=rest,
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
    t, leaf = sql.Identifier(table), sql.Identifier(tenant_leaf_name(table, tenant))
    rest, literal = sql.Identifier(rest_name(table)), sql.Literal(tenant)
    await conn.execute(LOCK_FOR_MOVE.format(table=t))
    await conn.execute(CREATE_DETACHED.format(leaf=leaf, table=t))
    cur = await conn.execute(COPY_TENANT.format(leaf=leaf, rest=rest, tenant=literal))
    moved = cur.rowcount
    await conn.execute(DELETE_TENANT.format(rest=rest, tenant=literal))
    if has_index:
        await conn.execute(create_statement(tenant_leaf_name(table, tenant), spec, column_type, build))
    await conn.execute(ATTACH.format(table=t, leaf=leaf, tenant=literal))
    await conn.execute(ANALYZE.format(leaf=leaf))
    return moved
