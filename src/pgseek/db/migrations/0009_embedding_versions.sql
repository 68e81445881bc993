-- Embedding versions (docs/decisions/0018). A version of a collection is a model identity plus the chunking that
-- feeds it; it owns its chunks (chunks.version_id) and its vector table (table_name), so that a candidate can be
-- backfilled, compared, activated, rolled back and retired while searches keep reading the active one.
--   state: candidate (being backfilled or ready), active (what searches read), previous (the active one before the
--     last switch, still written to so that a rollback is one transaction), retired (its table dropped, its
--     chunks deleted; the row stays as history);
--   backfilled_at: when the candidate held every document; activation requires it;
--   probes: the vectors of fixed probe sentences, flattened: the version's vector-space fingerprint;
--   comparison: the last comparison of this candidate against the active version.
CREATE TABLE embedding_versions (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id  integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    model_id       integer NOT NULL REFERENCES embedding_models (id),
    chunk_tokens   integer NOT NULL CHECK (chunk_tokens > 0),
    chunk_overlap  integer NOT NULL CHECK (chunk_overlap >= 0),
    state          text NOT NULL CHECK (state IN ('candidate', 'active', 'previous', 'retired')),
    table_name     text,
    backfilled_at  timestamptz,
    probes         real[],
    comparison     jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    activated_at   timestamptz,
    retired_at     timestamptz
);
-- At most one version per state (retired aside), checked at commit: a rollback swaps active and previous.
ALTER TABLE embedding_versions
    ADD CONSTRAINT embedding_versions_one_active EXCLUDE USING btree (collection_id WITH =)
        WHERE (state = 'active') DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT embedding_versions_one_candidate EXCLUDE USING btree (collection_id WITH =)
        WHERE (state = 'candidate') DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT embedding_versions_one_previous EXCLUDE USING btree (collection_id WITH =)
        WHERE (state = 'previous') DEFERRABLE INITIALLY DEFERRED;
GRANT SELECT ON embedding_versions TO pgseek_app;

-- Every collection embedded so far has one version: its model, the default chunking, and the model's shared table.
INSERT INTO embedding_versions
    (collection_id, model_id, chunk_tokens, chunk_overlap, state, table_name, backfilled_at, activated_at)
SELECT c.id, c.embedding_model_id, 200, 32, 'active', m.table_name, now(), now()
FROM collections c JOIN embedding_models m ON m.id = c.embedding_model_id;

-- No cascade from versions: retiring one deletes its chunks itself, and keeps the version's row.
ALTER TABLE chunks ADD COLUMN version_id integer REFERENCES embedding_versions (id);
UPDATE chunks k SET version_id = v.id FROM embedding_versions v WHERE v.collection_id = k.collection_id;
DELETE FROM chunks WHERE version_id IS NULL;  -- a chunk of a collection without a model: never searchable
ALTER TABLE chunks ALTER COLUMN version_id SET NOT NULL;
CREATE INDEX chunks_version_idx ON chunks (version_id);
-- A model's own table is created only for collections embedded before this migration; new versions own theirs.
ALTER TABLE embedding_models ALTER COLUMN table_name DROP NOT NULL;

-- Where each page of a PDF starts in the content (a JSON array of offsets; null without pages), so that a version
-- chunked again keeps its chunks' page numbers.
ALTER TABLE documents ADD COLUMN pages jsonb;

-- BM25 statistics per version: two live versions of a collection hold two chunk sets of the same documents.
ALTER TABLE keyword_stats ADD COLUMN version_id integer;
UPDATE keyword_stats s SET version_id = v.id FROM embedding_versions v WHERE v.collection_id = s.collection_id;
DELETE FROM keyword_stats WHERE version_id IS NULL;
ALTER TABLE keyword_stats ALTER COLUMN version_id SET NOT NULL;
ALTER TABLE keyword_stats DROP CONSTRAINT keyword_stats_pkey;
ALTER TABLE keyword_stats ADD PRIMARY KEY (tenant_id, collection_id, version_id);

CREATE OR REPLACE FUNCTION pgseek_keyword_stats() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Sorted, so concurrent writers lock statistics rows in one order and cannot deadlock.
        INSERT INTO keyword_stats AS s (tenant_id, collection_id, version_id, chunk_count, token_sum)
        SELECT tenant_id, collection_id, version_id, count(*), sum(token_count)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, collection_id, version_id) DO UPDATE
            SET chunk_count = s.chunk_count + excluded.chunk_count, token_sum = s.token_sum + excluded.token_sum;
    ELSE
        UPDATE keyword_stats AS s SET chunk_count = s.chunk_count - o.n, token_sum = s.token_sum - o.t
        FROM (SELECT tenant_id, collection_id, version_id, count(*) AS n, sum(token_count) AS t
              FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS o
        WHERE s.tenant_id = o.tenant_id AND s.collection_id = o.collection_id AND s.version_id = o.version_id;
    END IF;
    RETURN NULL;
END
$$;

-- Queries searched lately, per tenant and collection, so that a comparison of two versions can replay what users
-- really ask (top-10 overlap). One row per distinct query and mode, never updated (a popular query must not make
-- every search wait on its row's lock); rows older than PGSEEK_RECENT_QUERIES_DAYS are deleted as searches go.
CREATE TABLE recent_queries (
    tenant_id         text NOT NULL,
    collection_id     integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    query_hash        bytea NOT NULL,
    mode              text NOT NULL,
    query             text NOT NULL,
    searched_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, collection_id, query_hash, mode)
);
CREATE INDEX recent_queries_recent_idx ON recent_queries (collection_id, searched_at DESC);
ALTER TABLE recent_queries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recent_queries
    USING (tenant_id = current_setting('pgseek.tenant', true))
    WITH CHECK (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT, DELETE ON recent_queries TO pgseek_app;
