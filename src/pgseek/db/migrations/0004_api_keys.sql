-- API keys of the HTTP service. Each key belongs to one tenant and fixes the tenant of every request made with it.
-- Only the SHA-256 digest of a key is stored; the key itself is shown once, when it is created. pgseek_app gets no
-- grant here: keys are looked up before a request enters its tenant, by the connecting role.
CREATE TABLE api_keys (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9_]{1,64}$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    name        text CHECK (length(name) <= 200),
    key_hash    text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
