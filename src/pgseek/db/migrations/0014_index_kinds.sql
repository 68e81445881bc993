-- How a collection's vectors are indexed (docs/decisions/0027), fixed when the collection is created, like its
-- distance: index_kind hnsw or ivfflat; quantization none (the column as stored), halfvec (an HNSW index over
-- embedding::halfvec(n), the query cast the same) or binary (an HNSW index over binary_quantize(embedding), its
-- candidates re-ranked by the full-precision distance).
ALTER TABLE collections
    ADD COLUMN index_kind text NOT NULL DEFAULT 'hnsw' CHECK (index_kind IN ('hnsw', 'ivfflat')),
    ADD COLUMN quantization text NOT NULL DEFAULT 'none' CHECK (quantization IN ('none', 'halfvec', 'binary')),
    ADD CONSTRAINT collections_quantized_hnsw CHECK (quantization = 'none' OR index_kind = 'hnsw');

-- The vector indexes pgseek built whose build facts matter later: an IVFFlat index's lists and the rows it was built
-- over (a table grown well past them wants a rebuild), and each partial per-tenant HNSW index (docs/decisions/0028),
-- with its tenant. Searches read the row of their own tenant (or of no tenant) only.
CREATE TABLE vector_indexes (
    name           text PRIMARY KEY,
    table_name     text NOT NULL,
    collection_id  integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('ivfflat', 'partial')),
    tenant_id      text,
    rows_at_build  bigint NOT NULL,
    lists          integer,
    built_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'partial') = (tenant_id IS NOT NULL))
);
CREATE INDEX vector_indexes_table_idx ON vector_indexes (table_name, kind);
ALTER TABLE vector_indexes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vector_indexes
    USING (tenant_id IS NULL OR tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT ON vector_indexes TO pgseek_app;

-- Recall@k of each collection's live searches against exact search, as `pgseek serve` last measured it by re-running
-- a sample of them exactly in the background: `/metrics` exports it, and the doctor (any process) reads it here.
CREATE TABLE live_recall (
    collection_id  integer PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    k              integer NOT NULL,
    queries        integer NOT NULL,
    recall         real NOT NULL,
    measured_at    timestamptz NOT NULL DEFAULT now()
);
