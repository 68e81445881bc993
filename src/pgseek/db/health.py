"""What the doctor reads from PostgreSQL about the vector tables: server settings, table and index statistics, the
tenants' sizes, and sample vectors to measure recall with. Read as the connecting role: an operator's view of every
tenant (decision 0021). The statements are here, beside the only functions that run them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from psycopg import sql
from psycopg.rows import class_row

from pgseek.db.scope import Conn

# pg_size_bytes turns each memory setting into bytes whatever unit the server was configured in.
SERVER_FACTS = """
SELECT current_setting('server_version') AS postgres_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector_version,
       pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers_bytes,
       pg_size_bytes(current_setting('maintenance_work_mem')) AS maintenance_work_mem_bytes,
       pg_size_bytes(current_setting('effective_cache_size')) AS effective_cache_size_bytes,
       current_setting('autovacuum') = 'on' AS autovacuum,
       current_setting('autovacuum_vacuum_scale_factor')::float8 AS vacuum_scale_factor,
       current_setting('autovacuum_analyze_scale_factor')::float8 AS analyze_scale_factor,
       EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_prewarm') AS prewarm_available,
       EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_prewarm') AS prewarm_installed,
       pg_postmaster_start_time() AS started_at"""
# n_live_tup / n_dead_tup are the cumulative statistics' counts (kept by every write, reset by VACUUM), not a scan.
# A partitioned table (relkind 'p', decision 0031) has no rows of its own: its figures are its partitions' summed,
# its last vacuum the oldest of theirs, and its storage parameters those every partition has (a partitioned table
# takes none itself): one partition without the scale factors makes the table's read as the server's.
TABLE_FACTS = """
SELECT c.relname AS "table", coalesce(sum(s.n_live_tup), 0)::bigint AS live_rows,
       coalesce(sum(s.n_dead_tup), 0)::bigint AS dead_rows, sum(pg_table_size(l.leaf))::bigint AS size_bytes,
       CASE WHEN c.relkind = 'p' THEN coalesce((
                SELECT array_agg(o ORDER BY o) FROM (
                    SELECT o FROM pg_partition_tree(c.oid) t JOIN pg_class p ON p.oid = t.relid,
                         unnest(coalesce(p.reloptions, '{}')) o
                    WHERE t.isleaf GROUP BY o
                    HAVING count(*) = (SELECT count(*) FROM pg_partition_tree(c.oid) WHERE isleaf)
                ) common), '{}')
            ELSE coalesce(c.reloptions, '{}') END AS options,
       min(greatest(s.last_vacuum, s.last_autovacuum)) AS vacuumed_at, c.relkind = 'p' AS partitioned
FROM pg_class c
CROSS JOIN LATERAL (
    SELECT t.relid AS leaf FROM pg_partition_tree(c.oid) t WHERE t.isleaf AND c.relkind = 'p'
    UNION ALL SELECT c.oid WHERE c.relkind = 'r'
) l
LEFT JOIN pg_stat_user_tables s ON s.relid = l.leaf
WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)
GROUP BY c.oid, c.relname, c.reloptions, c.relkind
ORDER BY c.relname"""
# An index under construction (CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY's _ccnew) is invalid until its build
# ends: ``building`` tells it from one a killed build left behind. A partitioned table's index (relkind 'I') holds
# nothing itself: its size is its partitions' indexes' (decision 0031).
INDEX_FACTS = """
SELECT t.relname AS "table", i.relname AS name, am.amname AS method, x.indisvalid AND x.indisready AS valid,
       CASE WHEN i.relkind = 'I'
            THEN (SELECT coalesce(sum(pg_relation_size(p.relid)), 0) FROM pg_partition_tree(i.oid) p WHERE p.isleaf)
            ELSE pg_relation_size(i.oid) END::bigint AS size_bytes,
       coalesce(opc.opcname, '') AS opclass,
       coalesce(i.reloptions, '{}') AS options, x.indpred IS NOT NULL AS partial, i.relkind = 'I' AS partitioned,
       EXISTS (SELECT FROM pg_stat_progress_create_index p WHERE p.relid = t.oid) AS building
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_opclass opc ON opc.oid = x.indclass[0]
WHERE am.amname IN ('hnsw', 'ivfflat') AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
ORDER BY t.relname, i.relname"""
# keyword_stats holds each (tenant, collection, version)'s chunk count, kept by triggers: no scan of the chunks.
# The active version's: the one searches read.
TENANT_SIZES = """
SELECT s.collection_id, s.tenant_id AS tenant, s.chunk_count AS chunks
FROM keyword_stats s JOIN embedding_versions v ON v.id = s.version_id AND v.state = 'active'
WHERE s.collection_id = ANY(%s) AND s.chunk_count > 0
ORDER BY s.collection_id, s.chunk_count DESC, s.tenant_id"""
# The recall `pgseek serve` measured on live searches (migration 0014), one row per collection.
LIVE_RECALL = """
SELECT collection_id, k, queries, recall::float8 AS recall, measured_at FROM live_recall
WHERE collection_id = ANY(%s) ORDER BY collection_id"""
RECORD_LIVE_RECALL = """
INSERT INTO live_recall (collection_id, k, queries, recall) VALUES (%s, %s, %s, %s)
ON CONFLICT (collection_id) DO UPDATE
SET k = EXCLUDED.k, queries = EXCLUDED.queries, recall = EXCLUDED.recall, measured_at = now()"""
# Stored vectors of random chunks of one tenant, as float4 arrays whatever the column type (vector or halfvec).
SAMPLE_VECTORS = sql.SQL("""
SELECT embedding::real[] AS vector FROM {table}
WHERE tenant_id = %(tenant)s AND collection_id = %(collection)s
ORDER BY random() LIMIT %(limit)s""")


@dataclass(frozen=True, slots=True)
class ServerFacts:
    postgres_version: str
    pgvector_version: str | None
    shared_buffers_bytes: int
    maintenance_work_mem_bytes: int
    effective_cache_size_bytes: int
    autovacuum: bool
    vacuum_scale_factor: float
    analyze_scale_factor: float
    prewarm_available: bool
    prewarm_installed: bool
    started_at: datetime


@dataclass(frozen=True, slots=True)
class TableFacts:
    table: str
    live_rows: int
    dead_rows: int
    size_bytes: int
    options: Sequence[str]
    """Storage parameters as PostgreSQL lists them: ``autovacuum_vacuum_scale_factor=0.01``..."""
    vacuumed_at: datetime | None
    partitioned: bool = False
    """A partitioned table: rows, dead rows and size are its partitions'; its options, those they all have."""

    @property
    def dead_ratio(self) -> float:
        total = self.live_rows + self.dead_rows
        return self.dead_rows / total if total else 0.0

    def option(self, name: str) -> str | None:
        prefix = f"{name}="
        return next((o.removeprefix(prefix) for o in self.options if o.startswith(prefix)), None)


@dataclass(frozen=True, slots=True)
class IndexFacts:
    table: str
    name: str
    method: str
    valid: bool
    size_bytes: int
    opclass: str
    options: Sequence[str]
    partial: bool
    building: bool
    partitioned: bool = False
    """A partitioned table's index: its size is its partitions' indexes'."""


@dataclass(frozen=True, slots=True)
class TenantSize:
    collection_id: int
    tenant: str
    chunks: int


async def server_facts(conn: Conn) -> ServerFacts:
    async with conn.cursor(row_factory=class_row(ServerFacts)) as cur:
        await cur.execute(SERVER_FACTS)
        found = await cur.fetchone()
    assert found is not None  # a SELECT without FROM returns one row
    return found


async def table_facts(conn: Conn, tables: Sequence[str]) -> list[TableFacts]:
    async with conn.cursor(row_factory=class_row(TableFacts)) as cur:
        await cur.execute(TABLE_FACTS, (list(tables),))
        return await cur.fetchall()


async def index_facts(conn: Conn, tables: Sequence[str]) -> list[IndexFacts]:
    async with conn.cursor(row_factory=class_row(IndexFacts)) as cur:
        await cur.execute(INDEX_FACTS, (list(tables),))
        return await cur.fetchall()


async def tenant_sizes(conn: Conn, collection_ids: Sequence[int]) -> list[TenantSize]:
    async with conn.cursor(row_factory=class_row(TenantSize)) as cur:
        await cur.execute(TENANT_SIZES, (list(collection_ids),))
        return await cur.fetchall()


async def sample_vectors(
    conn: Conn, table: str, collection_id: int, tenant: str, limit: int
) -> list[NDArray[np.float32]]:
    """Up to ``limit`` stored vectors of random chunks of the tenant in the collection."""
    values = {"tenant": tenant, "collection": collection_id, "limit": limit}
    async with conn.cursor() as cur:
        await cur.execute(SAMPLE_VECTORS.format(table=sql.Identifier(table)), values)
        return [np.asarray(row[0], dtype=np.float32) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class LiveRecall:
    """Recall@k of a collection's live searches against exact search, over its last ``queries`` sampled ones."""

    collection_id: int
    k: int
    queries: int
    recall: float
    measured_at: datetime


async def live_recall(conn: Conn, collection_ids: Sequence[int]) -> list[LiveRecall]:
    async with conn.cursor(row_factory=class_row(LiveRecall)) as cur:
        await cur.execute(LIVE_RECALL, (list(collection_ids),))
        return await cur.fetchall()


async def record_live_recall(conn: Conn, collection_id: int, k: int, queries: int, recall: float) -> None:
    await conn.execute(RECORD_LIVE_RECALL, (collection_id, k, queries, recall))
