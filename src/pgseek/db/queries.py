"""Every SQL statement pgseek runs, by name. Identifiers are composed with ``psycopg.sql``; values are parameters."""

from __future__ import annotations

from collections.abc import Mapping

from psycopg import sql

# A transaction-level lock: a session-level one would break behind a transaction pooler, where the lock and the
# unlock could reach different server connections. 123917224011115 is a lock id no other application is likely to pick.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(123917224011115)"
CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS pgseek_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""
APPLIED_MIGRATIONS = "SELECT version, checksum FROM pgseek_migrations ORDER BY version"
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('pgseek_migrations') IS NOT NULL"
RECORD_MIGRATION = "INSERT INTO pgseek_migrations (version, name, checksum) VALUES (%s, %s, %s)"

PGVECTOR_AVAILABILITY = """
SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'"""
SERVER_VERSION = "SELECT current_setting('server_version')"

# Held while a collection, tenant and embedding table are set up, so concurrent first ingests do not race.
SETUP_LOCK = "SELECT pg_advisory_xact_lock(123917224011116)"
ENSURE_TENANT = "INSERT INTO tenants (id) VALUES (%s) ON CONFLICT (id) DO NOTHING"
ENSURE_COLLECTION = """
INSERT INTO collections (name, distance, text_search_config, index_kind, quantization, partitions)
VALUES (%s, %s, %s::regconfig, %s, %s, %s)
ON CONFLICT (name) DO NOTHING"""
TEXT_SEARCH_CONFIG_EXISTS = "SELECT 1 FROM pg_ts_config WHERE cfgname = %s"
# A collection with the version searches read: its active one, or, with %(version)s, that version whatever its
# state (comparisons search a candidate). No version row: nothing has been ingested yet.
GET_COLLECTION = """
SELECT c.id, c.name, c.text_search_config::text AS text_search_config, c.distance, v.model_id AS embedding_model_id,
       c.text_search_config::oid AS text_search_config_oid, m.precision, v.id AS version_id, v.table_name AS "table",
       v.chunk_tokens, v.chunk_overlap, v.state AS version_state, m.provider AS model_provider,
       m.name AS model_name, m.version AS model_version, m.dimensions AS model_dimensions,
       m.max_tokens AS model_max_tokens, m.normalized AS model_normalized, c.fusion, c.index_kind, c.quantization,
       c.partitions
FROM collections c
LEFT JOIN embedding_versions v
       ON v.collection_id = c.id AND v.table_name IS NOT NULL
      AND CASE WHEN %(version)s::int IS NULL THEN v.state = 'active' ELSE v.id = %(version)s::int END
LEFT JOIN embedding_models m ON m.id = v.model_id
WHERE c.name = %(name)s"""
SET_COLLECTION_MODEL = "UPDATE collections SET embedding_model_id = %s WHERE id = %s"

GET_MODEL = """
SELECT id, table_name FROM embedding_models
WHERE provider = %s AND name = %s AND version = %s AND dimensions = %s AND precision = %s"""
GET_MODEL_BY_ID = """
SELECT id, provider, name, dimensions, version, max_tokens, precision, normalized, table_name
FROM embedding_models WHERE id = %s"""
COLLECTION_MODEL = """
SELECT m.provider, m.name, m.dimensions, m.version, m.max_tokens, m.precision, m.normalized
FROM collections c
JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
JOIN embedding_models m ON m.id = v.model_id
WHERE c.name = %s"""
INSERT_MODEL = """
INSERT INTO embedding_models (provider, name, dimensions, version, max_tokens, precision, normalized, table_name)
VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)
ON CONFLICT (provider, name, version, dimensions, precision) DO NOTHING
RETURNING id"""
# The table name is derived from the version id, so concurrent registrations cannot collide.
# Keyed by tenant first (migration 0015, decision 0030), so that it can be partitioned by tenant ({partition}: empty,
# or PARTITION BY LIST, decision 0031) and distributed by tenant next to the chunks it references.
CREATE_EMBEDDINGS_TABLE = sql.SQL("""
CREATE TABLE IF NOT EXISTS {table} (
    chunk_id       bigint NOT NULL,
    tenant_id      text NOT NULL,
    collection_id  integer NOT NULL,
    embedding      {type}({dims}) NOT NULL,
    CONSTRAINT {pkey} PRIMARY KEY (tenant_id, chunk_id),
    CONSTRAINT {fkey} FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks (tenant_id, id) ON DELETE CASCADE
){partition}""")
PARTITION_BY_TENANT = sql.SQL(" PARTITION BY LIST (tenant_id)")
COLLECTION_PARTITIONS = "SELECT partitions FROM collections WHERE id = %s"
# The same isolation as documents and chunks (migration 0002), for each embeddings table as it is created.
SECURE_EMBEDDINGS_TABLE = [
    sql.SQL("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
    sql.SQL("DROP POLICY IF EXISTS tenant_isolation ON {table}"),
    sql.SQL(
        "CREATE POLICY tenant_isolation ON {table} USING (tenant_id = current_setting('pgseek.tenant', true)) "
        "WITH CHECK (tenant_id = current_setting('pgseek.tenant', true))"
    ),
    sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO pgseek_app"),
    sql.SQL("CREATE INDEX IF NOT EXISTS {scope_index} ON {table} (tenant_id, collection_id)"),
]


def set_local(settings: Mapping[str, str]) -> sql.Composed:
    """``SET LOCAL name = 'value'`` for each setting, in one round trip (several statements, no parameters, so the
    simple query protocol). SET LOCAL rather than ``set_config(..., true)`` (decision 0030): both end with the
    transaction, which keeps them safe behind a transaction pooler, but a distributed PostgreSQL (Citus with
    ``citus.propagate_set_commands = 'local'``) forwards SET LOCAL to every shard it touches, and not a function call.
    Names are pgseek's constants; values are quoted literals, whatever text a tenant id holds."""
    return sql.SQL("; ").join(
        sql.SQL("SET LOCAL {name} = {value}").format(name=sql.SQL(name), value=sql.Literal(value))
        for name, value in settings.items()
    )


def tenant_scope(tenant: str) -> sql.Composed:
    """Every tenant-scoped transaction starts here: the unprivileged role and the tenant, both for this transaction
    only, so nothing outlives it on a pooled connection."""
    return sql.SQL("SET LOCAL ROLE pgseek_app; ") + set_local({"pgseek.tenant": tenant})


EXISTING_HASHES = """
SELECT external_id, content_hash FROM documents
WHERE tenant_id = %s AND collection_id = %s AND external_id = ANY(%s)"""

# The stored vectors of these documents' chunks whose embedded text (and model) hashes to one of these, to be reused
# instead of embedded again (decision 0017). Only the tenant's own documents (row-level security, and the tenant in
# the WHERE clause for the plan); within each document, chunks_document_idx finds its chunks.
STORED_VECTORS = sql.SQL("""
SELECT DISTINCT ON (c.embed_hash) c.embed_hash, e.embedding::real[]
FROM documents d
JOIN chunks c ON c.document_id = d.id
JOIN {table} e ON e.chunk_id = c.id
WHERE d.tenant_id = %(tenant)s AND d.collection_id = %(collection)s AND d.external_id = ANY(%(ids)s)
  AND c.version_id = %(version)s AND c.embed_hash = ANY(%(hashes)s)""")

# One round trip for a whole batch; xmax = 0 tells a fresh insert from an update.
UPSERT_DOCUMENTS = """
INSERT INTO documents AS d
    (tenant_id, collection_id, external_id, source, title, metadata, content, content_hash, pages)
SELECT %s, %s, u.external_id, u.source, u.title, u.metadata, u.content, u.content_hash, u.pages
FROM unnest(%s::text[], %s::text[], %s::text[], %s::jsonb[], %s::text[], %s::text[], %s::jsonb[])
     AS u(external_id, source, title, metadata, content, content_hash, pages)
ON CONFLICT (tenant_id, collection_id, external_id) DO UPDATE
SET source = EXCLUDED.source, title = EXCLUDED.title, metadata = EXCLUDED.metadata,
    content = EXCLUDED.content, content_hash = EXCLUDED.content_hash, pages = EXCLUDED.pages, updated_at = now()
WHERE d.content_hash IS DISTINCT FROM EXCLUDED.content_hash
RETURNING d.external_id, d.id, (d.xmax = 0) AS inserted"""
# A document whose stored hash equals the new one is left alone (no row returned): someone else wrote this very
# version meanwhile, and it is counted unchanged, not updated.

# Claims on documents an ingest run is embedding, so that a concurrent run of the same documents waits for them
# instead of embedding them too (decision 0008). Session-level advisory locks on the run's own connection, in the
# two-key space (collection id, hash of tenant and external id): a hash collision only makes a run wait. That
# connection keeps a transaction open, so that a transaction pooler keeps it on one server connection.
CLAIM_DOCUMENTS = """
SELECT u.external_id FROM unnest(%(ids)s::text[]) AS u(external_id)
WHERE pg_try_advisory_lock(%(collection)s, hashtext(%(tenant)s || E'\\n' || u.external_id))"""
RELEASE_DOCUMENTS = """
SELECT pg_advisory_unlock(%(collection)s, hashtext(%(tenant)s || E'\\n' || u.external_id))
FROM unnest(%(ids)s::text[]) AS u(external_id)"""
RELEASE_ALL_CLAIMS = "SELECT pg_advisory_unlock_all()"
ALLOCATE_CHUNK_IDS = "SELECT nextval(pg_get_serial_sequence('chunks', 'id')) FROM generate_series(1, %s)"
COPY_CHUNKS = """
COPY chunks (id, document_id, tenant_id, collection_id, position, text, token_count, char_start, char_end,
             heading_path, ts_config, page, page_end, embed_hash, version_id)
FROM STDIN WITH (FORMAT BINARY)"""
COPY_CHUNK_TYPES = [
    "int8",
    "int8",
    "text",
    "int4",
    "int4",
    "text",
    "int4",
    "int4",
    "int4",
    "text[]",
    "oid",
    "int4",
    "int4",
    "bytea",
    "int4",
]  # regconfig is an oid on the wire
COPY_EMBEDDINGS = sql.SQL(
    "COPY {table} (chunk_id, tenant_id, collection_id, embedding) FROM STDIN WITH (FORMAT BINARY)"
)
# New chunks are already in place when the old ones go: readers see one version or the other, never neither.
DELETE_REPLACED_CHUNKS = """
DELETE FROM chunks WHERE document_id = ANY(%s) AND version_id = ANY(%s) AND NOT (id = ANY(%s))"""

# An index whose build was killed (CREATE INDEX CONCURRENTLY, REINDEX) stays behind invalid: it exists, but no query
# uses it. Valid, invalid or missing (no row) is what decides whether to build.
INDEX_VALID = """
SELECT x.indisvalid AND x.indisready AS usable FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE i.relname = %s AND i.relnamespace = current_schema()::regnamespace"""
# Builders of one index queue here, so that the second sees the first one's index instead of failing on its name.
INDEX_BUILD_LOCK = "SELECT pg_advisory_xact_lock(hashtext('pgseek index ' || %s))"
DROP_INDEX = sql.SQL("DROP INDEX IF EXISTS {index}")
VECTOR_INDEX_READY = """
SELECT EXISTS (
    SELECT 1 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam
    WHERE x.indrelid = to_regclass(%s) AND a.amname IN ('hnsw', 'ivfflat') AND x.indisvalid AND x.indisready
) AS ready"""
TABLE_HAS_ROWS = sql.SQL("SELECT EXISTS (SELECT FROM {table}) AS has_rows")
VECTOR_TABLES_IN_USE = """
SELECT DISTINCT v.table_name AS "table", c.distance, c.id AS collection_id, c.index_kind, c.quantization,
       m.dimensions, c.partitions
FROM embedding_versions v JOIN collections c ON c.id = v.collection_id JOIN embedding_models m ON m.id = v.model_id
WHERE v.table_name IS NOT NULL AND (v.state IN ('active', 'previous') OR v.backfilled_at IS NOT NULL)
ORDER BY 1, 2"""
# Each collection with its active version's embeddings table, for the doctor and maintenance (one collection, or
# all with None).
COLLECTION_VECTOR_TABLES = """
SELECT c.name AS collection, c.id AS collection_id, v.table_name AS "table", c.distance, m.dimensions, m.precision,
       c.index_kind, c.quantization, c.partitions
FROM collections c
JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
JOIN embedding_models m ON m.id = v.model_id
WHERE v.table_name IS NOT NULL AND (%(name)s::text IS NULL OR c.name = %(name)s)
ORDER BY c.name"""
# The embeddings table's own column type (vector or halfvec) decides how vectors are written and indexed.
EMBEDDING_TYPE = """
SELECT a.atttypid::regtype::text AS type FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attname = 'embedding' AND NOT a.attisdropped"""


def maintenance_work_mem(memory: str) -> sql.Composed:
    return set_local({"maintenance_work_mem": memory})


ANALYZE = sql.SQL("ANALYZE {tables}")


# pgvector 0.8 iterative scans keep walking the HNSW graph until LIMIT rows pass the filter; in relaxed order the
# rows come back nearly sorted, so the outer query sorts them exactly (the shape pgvector's README recommends).
#
# Under row-level security the planner underestimates the rows a tenant sees and would sort them all instead of
# walking the index; when pgseek has counted many matches, enable_sort off leaves the HNSW index as the only way to
# rows in distance order. All SET LOCAL (``set_local``): they end with the transaction, safe behind a pooler.
def iterative_scan(ef_search: int, max_scan_tuples: int) -> sql.Composed:
    return set_local(
        {
            "hnsw.ef_search": str(ef_search),
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.max_scan_tuples": str(max_scan_tuples),
            "enable_sort": "off",
        }
    )


# IVFFlat (decision 0027): probes lists per query, and iterative scans for filters (probing further lists until k rows
# pass, up to every list); enable_sort off for the same reason as HNSW's.
def ivfflat_scan(probes: int, max_probes: int) -> sql.Composed:
    return set_local(
        {
            "ivfflat.probes": str(probes),
            "ivfflat.iterative_scan": "relaxed_order",
            "ivfflat.max_probes": str(max_probes),
            "enable_sort": "off",
        }
    )


# With few matching rows an exact scan is cheaper and exact: no index scan, so the HNSW index is not used.
SET_LOCAL_EXACT_SCAN = set_local({"enable_indexscan": "off"})
# The plan name in the comment gives each plan its own statement text, hence its own prepared statement: a cached
# generic plan would otherwise outlive the enable_indexscan setting that chose it.
VECTOR_SEARCH = sql.SQL("""/* pgseek {plan} */
WITH nearest AS MATERIALIZED (
    SELECT c.id AS chunk_id, d.external_id, d.title, d.source, c.text, c.position, d.metadata, c.heading_path,
           c.char_start AS start, c.char_end AS "end", c.page, c.page_end, e.embedding {operator} %(query)s AS value
    FROM {table} e
    JOIN chunks c ON c.id = e.chunk_id
    JOIN documents d ON d.id = c.document_id
    WHERE e.tenant_id = %(tenant)s AND e.collection_id = %(collection)s AND {filter}
    ORDER BY {order}
    LIMIT %(k)s
)
SELECT * FROM nearest ORDER BY value""")


def vector_order(operator: sql.Composable, *, exact: bool) -> sql.Composed:
    """VECTOR_SEARCH's ORDER BY. An exact search orders by the distance plus zero, which no vector index can
    produce: enable_indexscan = off alone does not keep PostgreSQL 18 off the HNSW index of a partition whose bound
    implies the tenant (its LIMIT plan picks the disabled index scan: bench/bench_partitions.py found it)."""
    order = sql.SQL("e.embedding {operator} %(query)s").format(operator=operator)
    return sql.SQL("({order}) + 0").format(order=order) if exact else order


# A quantized index (halfvec or binary, decision 0027) orders candidates by the indexed expression ({key} {qoperator}
# {qquery}: the very expression the index is built over, or it does not serve the ORDER BY); the candidates are then
# re-ranked by the full-precision distance, so what comes back is measured as an exact search measures it.
VECTOR_SEARCH_RERANK = sql.SQL("""/* pgseek {plan} rerank */
WITH candidates AS MATERIALIZED (
    SELECT e.chunk_id, e.embedding
    FROM {table} e
    JOIN chunks c ON c.id = e.chunk_id
    JOIN documents d ON d.id = c.document_id
    WHERE e.tenant_id = %(tenant)s AND e.collection_id = %(collection)s AND {filter}
    ORDER BY {key} {qoperator} {qquery}
    LIMIT %(candidates)s
), nearest AS MATERIALIZED (
    SELECT c.id AS chunk_id, d.external_id, d.title, d.source, c.text, c.position, d.metadata, c.heading_path,
           c.char_start AS start, c.char_end AS "end", c.page, c.page_end, k.embedding {operator} %(query)s AS value
    FROM candidates k
    JOIN chunks c ON c.id = k.chunk_id
    JOIN documents d ON d.id = c.document_id
    ORDER BY value
    LIMIT %(k)s
)
SELECT * FROM nearest ORDER BY value""")
# The plan of a vector search depends on the tenant's own rows only (decision 0007): with no filter, its chunk count
# in the collection, which the keyword_stats triggers keep; with one, its matching rows counted under row-level
# security up to one past the exact-scan bound (no more than an exact scan would read anyway). Never the planner's
# estimate: table statistics are built from every tenant's rows.
TENANT_CHUNK_COUNT = """
SELECT coalesce(sum(chunk_count), 0) AS count FROM keyword_stats
WHERE tenant_id = %(tenant)s AND collection_id = %(collection)s AND version_id = %(version)s"""
COUNT_MATCHES_UP_TO = sql.SQL("""
SELECT count(*) AS count FROM (
    SELECT 1 FROM {table} e
    JOIN chunks c ON c.id = e.chunk_id
    JOIN documents d ON d.id = c.document_id
    WHERE e.tenant_id = %(tenant)s AND e.collection_id = %(collection)s AND {filter}
    LIMIT %(bound)s
) AS matches""")
# Hybrid search runs both legs in one transaction that reads one snapshot (decision 0008).
READ_ONLY_REPEATABLE_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# Okapi BM25 (k1 1.2, b 0.75) in SQL. Candidates are the chunks holding any query lexeme (GIN index); because every
# chunk with a lexeme is a candidate, a lexeme's document frequency is counted among the candidates themselves, and
# the chunk count and mean length come from keyword_stats. A query written with search operators (quotes, or, -word)
# must also match its websearch_to_tsquery; plain words need not all match: ANDing every word of a natural-language
# question matches almost nothing. Chunk length is the model's token count, which is what chunking bounds.
_KEYWORD_STATS = """stats AS (
    SELECT greatest(chunk_count, 1)::float8 AS n, greatest(token_sum::float8 / greatest(chunk_count, 1), 1) AS avgdl
    FROM keyword_stats
    WHERE tenant_id = %(tenant)s AND collection_id = %(collection)s AND version_id = %(version)s
)"""
# Sorted before the join, so that the join stops once k rows have passed the filter.
_KEYWORD_RANKED = """
SELECT c.id AS chunk_id, d.external_id, d.title, d.source, c.text, c.position, d.metadata, c.heading_path,
       c.char_start AS start, c.char_end AS "end", c.page, c.page_end, ranked.score AS value
FROM (SELECT id, score FROM scored ORDER BY score DESC, id) AS ranked
JOIN chunks c ON c.id = ranked.id
JOIN documents d ON d.id = c.document_id
WHERE (NOT %(operators)s OR c.tsv @@ websearch_to_tsquery(%(config)s::regconfig, %(text)s)) AND {filter}
ORDER BY ranked.score DESC, ranked.id
LIMIT %(k)s"""
# The score of one (candidate, query lexeme) row; idf from a lexeme's document frequency df among n chunks.
_BM25_IDF = "ln(1 + (stats.n - {df} + 0.5) / ({df} + 0.5))"
_BM25_TF = "p.tf * 2.2 / (p.tf + 1.2 * (0.25 + 0.75 * p.token_count / stats.avgdl))"
# Every statement's end: postings (candidate, lexeme, tf) and idf (lexeme, idf) summed per candidate, then ranked.
_KEYWORD_SCORED = (
    """), scored AS (
    SELECT p.id, sum(idf.idf * """
    + _BM25_TF
    + """) AS score
    FROM postings p JOIN idf USING (lexeme), stats
    GROUP BY p.id
)"""
    + _KEYWORD_RANKED
)
# The full scan: every chunk holding any query lexeme is a candidate, so a lexeme's document frequency is counted
# among the candidates themselves. The reference the bounded leg below must equal (tests, bench/bench_search.py).
KEYWORD_SEARCH = sql.SQL(
    """
WITH terms AS (
    SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(text)s))) AS lexeme
), any_term AS (
    SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query FROM terms
), """
    + _KEYWORD_STATS
    + """, postings AS MATERIALIZED (
    -- One row per (candidate, query lexeme): setweight + ts_filter keep only the query's lexemes (in C) before
    -- unnest makes rows of them.
    SELECT c.id, c.token_count, t.lexeme, cardinality(t.positions)::float8 AS tf
    FROM chunks c, any_term,
         unnest(ts_filter(setweight(c.tsv, 'A', (SELECT array_agg(lexeme) FROM terms)), '{{a}}')) AS t
    WHERE c.tenant_id = %(tenant)s AND c.collection_id = %(collection)s AND c.version_id = %(version)s
      AND c.tsv @@ any_term.query
), idf AS (
    SELECT p.lexeme, """
    + _BM25_IDF.format(df="count(*)")
    + """ AS idf
    FROM postings p, stats GROUP BY p.lexeme, stats.n
"""
    + _KEYWORD_SCORED
)
# The query's lexemes that the tenant's version holds, rarest first, with their document frequencies (term_stats,
# kept by triggers) and the version's chunk count: what the bounded leg needs to order the words and bound them.
KEYWORD_TERMS = (
    """
WITH """
    + _KEYWORD_STATS
    + """
SELECT s.lexeme, s.df, stats.n
FROM term_stats s, stats
WHERE s.tenant_id = %(tenant)s AND s.collection_id = %(collection)s AND s.version_id = %(version)s
  -- = ANY(array), not a join: all four key columns then bound the index scan, whatever the statistics say.
  AND s.lexeme = ANY(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(text)s)))
ORDER BY s.df, s.lexeme"""
)
# The bounded leg's scoring pass (search/keyword.py): the postings of the chunks matching {essential} (a tsquery of
# a few lexemes) and not {scored} (NULL, or the chunks a previous pass read), from pgseek_keyword_postings (migration
# 0012), each chunk scored over every query lexeme with the document frequencies given (term_stats, read in the same
# snapshot) by the same expressions as the full scan; the filter and the operators apply as there.
KEYWORD_SEARCH_BOUNDED = sql.SQL(
    """
WITH """
    + _KEYWORD_STATS
    + """, idf AS (
    SELECT w.lexeme, """
    + _BM25_IDF.format(df="w.df")
    + """ AS idf
    FROM unnest(%(lexemes)s::text[], %(dfs)s::bigint[]) AS w (lexeme, df), stats
), postings AS MATERIALIZED (
    SELECT p.id, p.token_count, p.lexeme, p.tf
    FROM pgseek_keyword_postings(%(collection)s, %(version)s, %(lexemes)s::text[], {essential}::tsquery,
                                 {scored}::tsquery) AS p
"""
    + _KEYWORD_SCORED
)

# Which of these words the tenant's collection holds anywhere: the GIN index finds the chunks holding the word's
# lexeme, and the word's own stem must also be in their text, because the text search stemmer conflates more than a
# word ("liveness" is the lexeme "live"). One probe per word, stopping at the first chunk.
WORDS_IN_COLLECTION = """
SELECT w.word FROM unnest(%(words)s::text[], %(stems)s::text[]) AS w(word, stem)
WHERE EXISTS (
    SELECT 1 FROM chunks c
    WHERE c.tenant_id = %(tenant)s AND c.collection_id = %(collection)s AND c.version_id = %(version)s
      AND c.tsv @@ plainto_tsquery(%(config)s::regconfig, w.word) AND strpos(lower(c.text), w.stem) > 0
)"""

SERVER_SETTINGS = """
SELECT current_setting('server_version') AS postgres_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector_version,
       current_setting('shared_buffers') AS shared_buffers,
       current_setting('maintenance_work_mem') AS maintenance_work_mem"""
COLLECTION_STATS = """
SELECT c.name, c.distance, m.name AS model, m.dimensions, v.table_name AS embeddings_table,
       (SELECT count(*) FROM documents d WHERE d.collection_id = c.id) AS documents,
       (SELECT count(*) FROM chunks k WHERE k.version_id = v.id) AS chunks
FROM collections c
LEFT JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
LEFT JOIN embedding_models m ON m.id = v.model_id
ORDER BY c.name"""
VECTOR_INDEXES = """
SELECT t.relname AS table, i.relname AS name, am.amname AS method, pg_relation_size(i.oid) AS size_bytes,
       pg_get_indexdef(i.oid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE am.amname IN ('hnsw', 'ivfflat') AND t.relnamespace = current_schema()::regnamespace
ORDER BY t.relname, i.relname"""

# --- the HTTP service: collections and documents as a tenant sees them, API keys ---------------------------------

# Run as the connecting role with the tenant written explicitly, like document writes (rows are created before any
# tenant scope could apply); every read of them below runs under tenant_scope.
REGISTER_TENANT_COLLECTION = """
INSERT INTO tenant_collections (tenant_id, collection_id) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1"""
# Counts are the tenant's own: row-level security hides the other tenants' documents and chunks from pgseek_app, and
# the explicit tenant conditions let the planner use the (tenant_id, ...) indexes.
TENANT_COLLECTIONS = """
SELECT c.name, c.distance, c.text_search_config::text AS text_search_config, m.name AS model, m.dimensions,
       tc.created_at,
       (SELECT count(*) FROM documents d WHERE d.tenant_id = %(tenant)s AND d.collection_id = c.id) AS documents,
       (SELECT count(*) FROM chunks k
        WHERE k.tenant_id = %(tenant)s AND k.collection_id = c.id AND k.version_id = v.id) AS chunks
FROM tenant_collections tc
JOIN collections c ON c.id = tc.collection_id
LEFT JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
LEFT JOIN embedding_models m ON m.id = v.model_id
WHERE tc.tenant_id = %(tenant)s AND (%(name)s::text IS NULL OR c.name = %(name)s)
ORDER BY c.name"""
DELETE_TENANT_DOCUMENTS = "DELETE FROM documents WHERE tenant_id = %s AND collection_id = %s"
UNREGISTER_TENANT_COLLECTION = "DELETE FROM tenant_collections WHERE tenant_id = %s AND collection_id = %s"
# After a tenant's part is gone: the collection row goes too when no tenant uses it any more (never the 'default'
# collection that migration 0001 creates). Run as the connecting role, which sees every tenant's rows.
RESET_ROLE = "SET LOCAL ROLE NONE"
# The tables a collection's versions own, dropped with it (a pre-version model table is shared: left alone).
OWNED_VERSION_TABLES = """
SELECT table_name FROM embedding_versions WHERE collection_id = %s AND table_name = 'embeddings_v' || id"""
DROP_UNUSED_COLLECTION = """
DELETE FROM collections c
WHERE c.id = %s AND c.name <> 'default'
  AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.collection_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM tenant_collections t WHERE t.collection_id = c.id)
RETURNING c.id"""

GET_DOCUMENT = """
SELECT d.external_id, d.title, d.source, d.metadata, d.content AS text, d.created_at, d.updated_at,
       (SELECT count(*) FROM chunks c WHERE c.document_id = d.id AND c.version_id = %(version)s) AS chunks
FROM documents d
WHERE d.tenant_id = %(tenant)s AND d.collection_id = %(collection)s AND d.external_id = %(id)s"""
# Keyset paging in external-id order rides the unique (tenant_id, collection_id, external_id) index; prefixes are
# matched with starts_with, so that '%' and '_' in them are plain characters.
LIST_DOCUMENTS = """
SELECT d.external_id, d.title, d.source, d.updated_at,
       (SELECT count(*) FROM chunks c WHERE c.document_id = d.id AND c.version_id = %(version)s) AS chunks
FROM documents d
WHERE d.tenant_id = %(tenant)s AND d.collection_id = %(collection)s
  AND (%(after)s::text IS NULL OR d.external_id > %(after)s)
  AND (%(prefix)s::text IS NULL OR starts_with(d.external_id, %(prefix)s))
  AND (%(source_prefix)s::text IS NULL OR starts_with(d.source, %(source_prefix)s))
ORDER BY d.external_id
LIMIT %(limit)s"""
COUNT_DOCUMENTS = """
SELECT count(*) AS total FROM documents d
WHERE d.tenant_id = %(tenant)s AND d.collection_id = %(collection)s
  AND (%(prefix)s::text IS NULL OR starts_with(d.external_id, %(prefix)s))
  AND (%(source_prefix)s::text IS NULL OR starts_with(d.source, %(source_prefix)s))"""
# Chunks and their vectors go with the document (ON DELETE CASCADE).
DELETE_DOCUMENT = "DELETE FROM documents WHERE tenant_id = %s AND collection_id = %s AND external_id = %s RETURNING id"
DELETE_DOCUMENTS = "DELETE FROM documents WHERE tenant_id = %s AND collection_id = %s AND external_id = ANY(%s)"

INSERT_API_KEY = """
INSERT INTO api_keys (id, tenant_id, name, key_hash) VALUES (%s, %s, %s, %s)
RETURNING id, tenant_id AS tenant, name, created_at, revoked_at"""
FIND_API_KEY = """
SELECT id, tenant_id AS tenant, name, created_at, revoked_at FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"""
REVOKE_API_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s
RETURNING id, tenant_id AS tenant, name, created_at, revoked_at"""
LIST_API_KEYS = """
SELECT id, tenant_id AS tenant, name, created_at, revoked_at FROM api_keys
WHERE %(tenant)s::text IS NULL OR tenant_id = %(tenant)s
ORDER BY created_at, id"""

PING = "SELECT 1"

# --- embedding versions (decision 0018) -----------------------------------------------------------------------------

_VERSION_COLUMNS = """
v.id, v.collection_id, c.name AS collection, v.state, v.table_name AS "table", v.chunk_tokens, v.chunk_overlap,
v.model_id, m.provider, m.name AS model_name, m.dimensions, m.version AS model_version, m.max_tokens, m.precision,
m.normalized, v.backfilled_at, v.created_at, v.activated_at, v.retired_at, v.comparison, v.probes"""
_VERSION_FROM = """
FROM embedding_versions v JOIN collections c ON c.id = v.collection_id JOIN embedding_models m ON m.id = v.model_id"""
LIVE_VERSIONS = f"""
SELECT {_VERSION_COLUMNS} {_VERSION_FROM}
WHERE v.collection_id = %s AND v.state <> 'retired' AND v.table_name IS NOT NULL ORDER BY v.id"""
# Taken by every document write in its transaction: a version made live meanwhile is seen and written to, and a
# version's state cannot change under a write (activation and the end of a backfill update the row).
LOCK_LIVE_VERSIONS = """
SELECT v.id FROM embedding_versions v
WHERE v.collection_id = %s AND v.state <> 'retired' AND v.table_name IS NOT NULL ORDER BY v.id FOR SHARE"""
COLLECTION_VERSIONS = f"""
SELECT {_VERSION_COLUMNS} {_VERSION_FROM}
WHERE c.name = %s ORDER BY v.id"""
GET_VERSION = f"""
SELECT {_VERSION_COLUMNS} {_VERSION_FROM}
WHERE v.id = %s"""
INSERT_VERSION = """
INSERT INTO embedding_versions (collection_id, model_id, chunk_tokens, chunk_overlap, state, backfilled_at,
                                activated_at)
VALUES (%(collection)s, %(model)s, %(chunk_tokens)s, %(chunk_overlap)s, %(state)s,
        CASE WHEN %(state)s = 'active' THEN now() END, CASE WHEN %(state)s = 'active' THEN now() END)
RETURNING id"""
NAME_VERSION_TABLE = "UPDATE embedding_versions SET table_name = %s WHERE id = %s"
LOCK_COLLECTION_VERSIONS = "SELECT id FROM embedding_versions WHERE collection_id = %s ORDER BY id FOR UPDATE"
SET_VERSION_PROBES = "UPDATE embedding_versions SET probes = %s WHERE id = %s AND probes IS NULL"
SET_VERSION_STATE = """
UPDATE embedding_versions
SET state = %(state)s,
    activated_at = CASE WHEN %(state)s = 'active' THEN now() ELSE activated_at END,
    retired_at = CASE WHEN %(state)s = 'retired' THEN now() ELSE retired_at END
WHERE id = %(id)s"""
SET_VERSION_BACKFILLED = "UPDATE embedding_versions SET backfilled_at = now() WHERE id = %s"
SET_VERSION_COMPARISON = "UPDATE embedding_versions SET comparison = %s WHERE id = %s"
DROP_TABLE = sql.SQL("DROP TABLE IF EXISTS {table}")
TABLE_USED_BY_OTHER_VERSIONS = """
SELECT EXISTS (SELECT 1 FROM embedding_versions WHERE table_name = %s AND id <> %s AND state <> 'retired')"""
DELETE_VERSION_CHUNKS = "DELETE FROM chunks WHERE version_id = %s"
DELETE_VERSION_VECTORS = sql.SQL("DELETE FROM {table} WHERE collection_id = %s")
DELETE_VERSION_STATS = "DELETE FROM keyword_stats WHERE version_id = %s"

# The backfill's work list: the collection's documents (every tenant's) that have no chunk in the version yet,
# in id order after a cursor. A document written since with the version included is skipped by the anti-join.
MISSING_DOCUMENTS = """
SELECT d.id, d.tenant_id, d.external_id, d.source, d.title, d.metadata, d.content AS text, d.content_hash, d.pages
FROM documents d
WHERE d.collection_id = %(collection)s AND d.id > %(after)s
  AND NOT EXISTS (SELECT 1 FROM chunks k WHERE k.document_id = d.id AND k.version_id = %(version)s)
ORDER BY d.id
LIMIT %(limit)s"""
COUNT_MISSING_DOCUMENTS = """
SELECT count(*) AS missing, (SELECT count(*) FROM documents WHERE collection_id = %(collection)s) AS total
FROM documents d
WHERE d.collection_id = %(collection)s
  AND NOT EXISTS (SELECT 1 FROM chunks k WHERE k.document_id = d.id AND k.version_id = %(version)s)"""
VERSION_CHUNK_COUNT = "SELECT count(*) AS chunks FROM chunks WHERE version_id = %s"
# A backfill writes a document only as it read it: still there, with the same content. FOR SHARE holds off a
# delete (and an ingest's update) until the write commits; a document deleted meanwhile is skipped, never revived.
LOCK_DOCUMENTS = """
SELECT id, content_hash FROM documents WHERE id = ANY(%s) ORDER BY id FOR SHARE"""
# Whether some backfiller holds the version: a session-level advisory lock on its own connection, released by the
# server when that process dies, however it dies.
# (1886348147, version id): a two-key lock, apart from the document claims' (collection id, hash) keys.
TRY_BACKFILL_LOCK = "SELECT pg_try_advisory_lock(1886348147, %s) AS locked"
BACKFILL_UNLOCK = "SELECT pg_advisory_unlock(1886348147, %s)"
BACKFILL_RUNNING = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND classid = 1886348147 AND objid = %s AND objsubid = 2 AND granted
) AS running"""

# Written as the connecting role with the tenant explicit (like documents); sha256 keys the text, which may be
# longer than a btree entry holds.
RECORD_QUERY = """
INSERT INTO recent_queries AS r (tenant_id, collection_id, query_hash, mode, query)
VALUES (%(tenant)s, %(collection)s, sha256(convert_to(%(query)s, 'UTF8')), %(mode)s, %(query)s)
ON CONFLICT (tenant_id, collection_id, query_hash, mode) DO NOTHING"""
FORGET_OLD_QUERIES = "DELETE FROM recent_queries WHERE searched_at < now() - make_interval(days => %s)"
RECENT_QUERIES = """
SELECT tenant_id, query, mode FROM recent_queries
WHERE collection_id = %s ORDER BY searched_at DESC LIMIT %s"""

# A collection's tuned hybrid fusion (migration 0010); null: the built-in default.
GET_COLLECTION_FUSION = "SELECT fusion FROM collections WHERE id = %s"
SET_COLLECTION_FUSION = "UPDATE collections SET fusion = %s WHERE id = %s"
