-- Document frequencies per lexeme, per (tenant, collection, version) (docs/decisions/0024). The keyword leg reads a
-- query's few rows here to know which of its words are rare before it touches a chunk: it scores the chunks holding
-- the rare words and skips those holding only common words once they can no longer reach the top k.
CREATE TABLE term_stats (
    tenant_id      text NOT NULL,
    collection_id  integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    version_id     integer NOT NULL,
    lexeme         text NOT NULL,
    df             bigint NOT NULL CHECK (df > 0),
    PRIMARY KEY (tenant_id, collection_id, version_id, lexeme)
) WITH (fillfactor = 70);  -- room on each page, so that most count updates are HOT (no new index entry)
ALTER TABLE term_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON term_stats USING (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT ON term_stats TO pgseek_app;

-- One function keeps both statistics tables, keyword_stats first. A writer locks the (tenant, collection, version)
-- row of keyword_stats before any of that version's term_stats rows, and holds it to commit: two writers of one
-- version queue there, so they never hold term rows in crossed orders (no deadlock), and term_stats adds no waiting
-- that keyword_stats did not already impose. Rows are still sorted, as a second guard.
-- SECURITY DEFINER: pgseek_app deletes chunks under RLS but may not write statistics rows itself.
CREATE OR REPLACE FUNCTION pgseek_keyword_stats() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE keyword_stats AS s SET chunk_count = s.chunk_count - o.n, token_sum = s.token_sum - o.t
        FROM (SELECT tenant_id, collection_id, version_id, count(*) AS n, sum(token_count) AS t
              FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) AS o
        WHERE s.tenant_id = o.tenant_id AND s.collection_id = o.collection_id AND s.version_id = o.version_id;
        -- A lexeme no chunk holds any more goes (a retired version leaves no rows behind); the two parts touch
        -- disjoint rows, so one statement (one pass over old_rows) does both.
        WITH gone AS (
            SELECT tenant_id, collection_id, version_id, lexeme, count(*) AS n
            FROM old_rows, unnest(tsvector_to_array(tsv)) AS lexeme
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ), emptied AS (
            DELETE FROM term_stats AS s USING gone g
            WHERE s.tenant_id = g.tenant_id AND s.collection_id = g.collection_id AND s.version_id = g.version_id
              AND s.lexeme = g.lexeme AND s.df <= g.n
        )
        UPDATE term_stats AS s SET df = s.df - g.n
        FROM gone g
        WHERE s.tenant_id = g.tenant_id AND s.collection_id = g.collection_id AND s.version_id = g.version_id
          AND s.lexeme = g.lexeme AND s.df > g.n;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO keyword_stats AS s (tenant_id, collection_id, version_id, chunk_count, token_sum)
        SELECT tenant_id, collection_id, version_id, count(*), sum(token_count)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (tenant_id, collection_id, version_id) DO UPDATE
            SET chunk_count = s.chunk_count + excluded.chunk_count, token_sum = s.token_sum + excluded.token_sum;
        INSERT INTO term_stats AS s (tenant_id, collection_id, version_id, lexeme, df)
        SELECT tenant_id, collection_id, version_id, lexeme, count(*)
        FROM new_rows, unnest(tsvector_to_array(tsv)) AS lexeme
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, collection_id, version_id, lexeme) DO UPDATE SET df = s.df + excluded.df;
    END IF;
    RETURN NULL;
END
$$;
-- Chunks are not updated by pgseek today; an update that did change a chunk's text or token count would otherwise
-- leave both tables wrong without a trace.
CREATE TRIGGER chunks_keyword_stats_update AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pgseek_keyword_stats();

INSERT INTO term_stats (tenant_id, collection_id, version_id, lexeme, df)
SELECT tenant_id, collection_id, version_id, lexeme, count(*)
FROM chunks, unnest(tsvector_to_array(tsv)) AS lexeme
GROUP BY 1, 2, 3, 4;
ANALYZE term_stats;

-- The postings (chunk, token count, query lexeme, tf) of the calling tenant's chunks of a version that match query
-- and not seen (NULL: none seen), for the bounded keyword leg. Under row-level security the GIN index on tsv is
-- never used: `@@` is not leakproof, so PostgreSQL tests it only after the policy, on every one of the tenant's
-- chunks (detoasting each tsvector: 115 ms for a thousand matches among 20,000 chunks, against 9 ms through the
-- index). SECURITY DEFINER reads past the policy, so the function applies it itself: the tenant is the scope's
-- setting, exactly as the policy reads it, and the rows it returns are the caller's own.
CREATE FUNCTION pgseek_keyword_postings(p_collection integer, p_version integer, p_lexemes text[], p_query tsquery,
                                        p_seen tsquery)
RETURNS TABLE (id bigint, token_count integer, lexeme text, tf float8)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT c.id, c.token_count, t.lexeme, cardinality(t.positions)::float8
    FROM chunks c, unnest(ts_filter(setweight(c.tsv, 'A', p_lexemes), '{a}')) AS t
    WHERE c.tenant_id = current_setting('pgseek.tenant', true) AND c.collection_id = p_collection
      AND c.version_id = p_version AND c.tsv @@ p_query AND NOT coalesce(c.tsv @@ p_seen, false)
$$;
REVOKE EXECUTE ON FUNCTION pgseek_keyword_postings(integer, integer, text[], tsquery, tsquery) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgseek_keyword_postings(integer, integer, text[], tsquery, tsquery) TO pgseek_app;
