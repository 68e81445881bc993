-- Tenant isolation by the database: row-level security keyed on the transaction-local setting pgseek.tenant.
-- Tenant-scoped queries run as pgseek_app (SET LOCAL ROLE inside each transaction): neither a superuser nor the
-- tables' owner, so the policies apply to it. With no tenant set, current_setting() is NULL or '' and no row matches.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgseek_app') THEN
        CREATE ROLE pgseek_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
-- The connecting user must be able to switch to the role (a superuser can anyway).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'pgseek_app', 'MEMBER') THEN
        EXECUTE format('GRANT pgseek_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO pgseek_app;
GRANT SELECT ON tenants, collections, embedding_models TO pgseek_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON documents, chunks TO pgseek_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO pgseek_app;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (tenant_id = current_setting('pgseek.tenant', true))
    WITH CHECK (tenant_id = current_setting('pgseek.tenant', true));
CREATE POLICY tenant_isolation ON chunks
    USING (tenant_id = current_setting('pgseek.tenant', true))
    WITH CHECK (tenant_id = current_setting('pgseek.tenant', true));

-- Embedding tables that already exist get the same treatment as new ones (see store.ensure_embedding_table).
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT table_name FROM embedding_models WHERE table_name <> 'pending' LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''pgseek.tenant'', true)) '
            'WITH CHECK (tenant_id = current_setting(''pgseek.tenant'', true))', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO pgseek_app', t);
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I (tenant_id, collection_id)', t || '_scope_idx', t);
    END LOOP;
END
$$;
