-- BM25 needs each (tenant, collection)'s chunk count and mean chunk length. Statement-level triggers keep them in one
-- row, so a keyword query reads that row instead of scanning the collection; one upsert per statement (a COPY of
-- thousands of chunks included), not per chunk.
CREATE TABLE keyword_stats (
    tenant_id      text NOT NULL,
    collection_id  integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    chunk_count    bigint NOT NULL,
    token_sum      bigint NOT NULL,
    PRIMARY KEY (tenant_id, collection_id)
);
ALTER TABLE keyword_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON keyword_stats USING (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT ON keyword_stats TO pgseek_app;

-- SECURITY DEFINER: pgseek_app deletes chunks under RLS but may not write statistics rows itself.
CREATE FUNCTION pgseek_keyword_stats() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Sorted, so concurrent writers lock statistics rows in one order and cannot deadlock.
        INSERT INTO keyword_stats AS s (tenant_id, collection_id, chunk_count, token_sum)
        SELECT tenant_id, collection_id, count(*), sum(token_count) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (tenant_id, collection_id) DO UPDATE
            SET chunk_count = s.chunk_count + excluded.chunk_count, token_sum = s.token_sum + excluded.token_sum;
    ELSE
        UPDATE keyword_stats AS s SET chunk_count = s.chunk_count - o.n, token_sum = s.token_sum - o.t
        FROM (SELECT tenant_id, collection_id, count(*) AS n, sum(token_count) AS t
              FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2) AS o
        WHERE s.tenant_id = o.tenant_id AND s.collection_id = o.collection_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER chunks_keyword_stats_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pgseek_keyword_stats();
CREATE TRIGGER chunks_keyword_stats_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pgseek_keyword_stats();

INSERT INTO keyword_stats (tenant_id, collection_id, chunk_count, token_sum)
SELECT tenant_id, collection_id, count(*), sum(token_count) FROM chunks GROUP BY 1, 2;
