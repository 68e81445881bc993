-- Generations for the search result cache (docs/decisions/0023). A cached result is keyed by the generations read
-- before the search ran; every change that can alter a search's result bumps one of them in the change's own
-- transaction, so a search that starts after the change committed reads a new generation and never meets a result
-- cached before it.
--   search_generations: one row per (tenant, collection), bumped by every statement that inserts or deletes the
--     tenant's chunks (documents written, replaced, deleted; a collection emptied; a backfill's writes);
--   collection_generations: one row per collection, bumped when a version's state or table changes (add, activate,
--     rollback, retire) and when the collection's own settings change (fusion by `pgseek tune`, distance, model).
-- No foreign keys: a collection id is never reused, so a row left by a dropped collection only costs its bytes, and
-- a bump never fails on a collection being dropped in the same transaction.
-- This database's own name space in a cache shared by several (one Redis for staging and production, for test
-- databases): collection ids and generations start alike in every database, this id does not.
CREATE TABLE search_cache_namespace (
    id   uuid NOT NULL DEFAULT gen_random_uuid(),
    one  boolean PRIMARY KEY DEFAULT true CHECK (one)
);
INSERT INTO search_cache_namespace DEFAULT VALUES;
GRANT SELECT ON search_cache_namespace TO pgseek_app;

CREATE TABLE search_generations (
    tenant_id      text NOT NULL,
    collection_id  integer NOT NULL,
    generation     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, collection_id)
);
ALTER TABLE search_generations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_generations USING (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT ON search_generations TO pgseek_app;

CREATE TABLE collection_generations (
    collection_id  integer PRIMARY KEY,
    generation     bigint NOT NULL DEFAULT 1
);
GRANT SELECT ON collection_generations TO pgseek_app;

-- On chunks, after chunks_keyword_stats_* (triggers of one event fire in name order): every writer locks the
-- keyword_stats row, then this one, in that order, so that an ingest and a delete of one tenant's collection cannot
-- deadlock. Sorted, so concurrent writers of several rows lock them in one order. SECURITY DEFINER: pgseek_app
-- deletes chunks under RLS but may not write generation rows itself.
CREATE FUNCTION pgseek_bump_search_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO search_generations AS g (tenant_id, collection_id)
    SELECT DISTINCT tenant_id, collection_id FROM changed_rows ORDER BY 1, 2
    ON CONFLICT (tenant_id, collection_id) DO UPDATE SET generation = g.generation + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER chunks_search_generation_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION pgseek_bump_search_generation();
CREATE TRIGGER chunks_search_generation_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION pgseek_bump_search_generation();

CREATE FUNCTION pgseek_bump_collection_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    target integer;
BEGIN
    IF TG_TABLE_NAME = 'collections' THEN
        target := NEW.id;
    ELSE
        target := NEW.collection_id;
    END IF;
    INSERT INTO collection_generations AS g (collection_id) VALUES (target)
    ON CONFLICT (collection_id) DO UPDATE SET generation = g.generation + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER embedding_versions_search_generation AFTER INSERT OR UPDATE OF state, table_name
    ON embedding_versions FOR EACH ROW EXECUTE FUNCTION pgseek_bump_collection_generation();
CREATE TRIGGER collections_search_generation AFTER UPDATE ON collections FOR EACH ROW
    WHEN ((OLD.fusion, OLD.distance, OLD.text_search_config, OLD.embedding_model_id)
          IS DISTINCT FROM (NEW.fusion, NEW.distance, NEW.text_search_config, NEW.embedding_model_id))
    EXECUTE FUNCTION pgseek_bump_collection_generation();
