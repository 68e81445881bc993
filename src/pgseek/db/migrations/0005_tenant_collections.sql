-- Which collections each tenant uses. Collection names and settings (distance, text search, model) are shared by a
-- deployment; a tenant lists, counts and deletes only its own part: the collections it created or ingested into.
CREATE TABLE tenant_collections (
    tenant_id      text NOT NULL REFERENCES tenants (id),
    collection_id  integer NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, collection_id)
);
CREATE INDEX tenant_collections_collection_idx ON tenant_collections (collection_id);

-- Every tenant that already has documents in a collection uses it.
INSERT INTO tenant_collections (tenant_id, collection_id)
SELECT DISTINCT tenant_id, collection_id FROM documents;

-- The same isolation as documents (migration 0002). Rows are added by the connecting role, with the tenant written
-- explicitly (as documents are); the application role reads and deletes only its tenant's rows.
ALTER TABLE tenant_collections ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_collections
    USING (tenant_id = current_setting('pgseek.tenant', true))
    WITH CHECK (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT, DELETE ON tenant_collections TO pgseek_app;
