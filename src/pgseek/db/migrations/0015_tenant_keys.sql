-- Tenant first in every key of tenant-owned rows (docs/decisions/0030): documents, chunks and each embeddings table
-- are keyed (tenant_id, id), and their foreign keys carry the tenant. PostgreSQL's declarative partitioning by tenant
-- and a distributed PostgreSQL sharding by tenant (Citus) both require the partition or distribution column in every
-- primary key and unique constraint, and co-located foreign keys need it too. Ids stay unique by their identity; a
-- plain index on id keeps the owner's lookups by id (backfill, locks) as fast as before.

-- The embeddings tables' keys reference chunks: drop them first (foreign keys before primary keys).
DO $$
DECLARE
    t text;
    c record;
BEGIN
    FOR t IN
        SELECT DISTINCT table_name FROM (
            SELECT table_name FROM embedding_versions UNION ALL SELECT table_name FROM embedding_models
        ) named
        WHERE table_name IS NOT NULL AND to_regclass(format('%I', table_name)) IS NOT NULL
    LOOP
        FOR c IN
            SELECT conname FROM pg_constraint
            WHERE conrelid = format('%I', t)::regclass AND contype IN ('f', 'p')
            ORDER BY contype  -- 'f' before 'p'
        LOOP
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, c.conname);
        END LOOP;
    END LOOP;
END $$;

ALTER TABLE chunks DROP CONSTRAINT chunks_document_id_fkey;
ALTER TABLE chunks DROP CONSTRAINT chunks_pkey;
ALTER TABLE documents DROP CONSTRAINT documents_pkey;

ALTER TABLE documents ADD CONSTRAINT documents_pkey PRIMARY KEY (tenant_id, id);
CREATE INDEX documents_id_idx ON documents (id);
ALTER TABLE chunks ADD CONSTRAINT chunks_pkey PRIMARY KEY (tenant_id, id);
CREATE INDEX chunks_id_idx ON chunks (id);
ALTER TABLE chunks ADD CONSTRAINT chunks_document_fkey
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT DISTINCT table_name FROM (
            SELECT table_name FROM embedding_versions UNION ALL SELECT table_name FROM embedding_models
        ) named
        WHERE table_name IS NOT NULL AND to_regclass(format('%I', table_name)) IS NOT NULL
    LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (tenant_id, chunk_id)', t, t || '_pkey');
        EXECUTE format(
            'ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (tenant_id, chunk_id) '
            'REFERENCES chunks (tenant_id, id) ON DELETE CASCADE',
            t, t || '_chunk_fkey'
        );
    END LOOP;
END $$;

-- How a collection's embeddings tables are partitioned by tenant (docs/decisions/0031), fixed at creation like its
-- index kind: 0, one table; N > 0, a LIST partition for each tenant given its own (pgseek partitions move) and a
-- DEFAULT partition hashed into N for the others, each partition with its own vector index.
ALTER TABLE collections
    ADD COLUMN partitions integer NOT NULL DEFAULT 0 CHECK (partitions BETWEEN 0 AND 1024),
    ADD CONSTRAINT collections_partitioned_index CHECK (partitions = 0 OR index_kind = 'hnsw');
