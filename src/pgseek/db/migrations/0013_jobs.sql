-- The durable work queue that keeps collections current (docs/decisions/0025, docs/freshness.md).
--   A job asks for one document of one tenant's collection to be brought up to date: kind 'upsert' (write what the
--   payload, or the synced table's row, holds now) or 'delete'. Workers claim jobs with FOR UPDATE SKIP LOCKED and
--   a lease (lease_until): a job whose worker died is claimable again once its lease has expired. Nothing stays
--   locked while a model embeds: claiming and finishing are short transactions of their own.
--   state: pending (waiting, not before run_after), running (leased to worker), done, failed (attempts spent; error
--   says why). One pending job per document at most: a newer change to a document still waiting merges into it
--   (its payload replaced, its enqueued_at kept: the lag runs from the oldest change not yet searchable).
--   source_id: the synced table the job came from (its row is read when the job runs); null for jobs that carry
--   their document in payload (the HTTP API, a broker, a watched folder).
CREATE TABLE sync_sources (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection        text NOT NULL,
    tenant_id         text NOT NULL,
    table_name        text NOT NULL,
    id_column         text NOT NULL,
    id_type           text NOT NULL,
    text_column       text NOT NULL,
    title_column      text,
    metadata_columns  text[] NOT NULL DEFAULT '{}',
    tenant_column     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_name, collection)
);

CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text NOT NULL,
    collection   text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('upsert', 'delete')),
    external_id  text NOT NULL,
    payload      jsonb,
    source_id    integer REFERENCES sync_sources (id) ON DELETE CASCADE,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    run_after    timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_until  timestamptz,
    worker       text,
    error        text,
    outcome      text,
    enqueued_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE UNIQUE INDEX jobs_one_pending_idx ON jobs (tenant_id, collection, external_id) WHERE state = 'pending';
CREATE INDEX jobs_claimable_idx ON jobs (run_after, id) WHERE state = 'pending';
CREATE INDEX jobs_running_idx ON jobs (tenant_id, collection, external_id) WHERE state = 'running';
CREATE INDEX jobs_finished_idx ON jobs (collection, finished_at) WHERE state IN ('done', 'failed');

-- Tenants enqueue and read their own jobs only; workers run as the connecting role, across tenants, and write each
-- job's documents with the job's tenant (decision 0004).
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = current_setting('pgseek.tenant', true))
    WITH CHECK (tenant_id = current_setting('pgseek.tenant', true));
GRANT SELECT, INSERT, UPDATE ON jobs TO pgseek_app;
GRANT USAGE, SELECT ON SEQUENCE jobs_id_seq TO pgseek_app;

-- A worker waits on LISTEN pgseek_jobs (polling too: a notification sent while no one listens is lost).
CREATE FUNCTION pgseek_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgseek_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF run_after ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pgseek_jobs_notify();

-- Live workers: each beats every few seconds; status lists those whose last beat is recent.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    beat_at      timestamptz NOT NULL DEFAULT now(),
    jobs_done    bigint NOT NULL DEFAULT 0,
    jobs_failed  bigint NOT NULL DEFAULT 0
);

-- Changes to a synced application table become jobs: the trigger records the key and the operation only; the worker
-- reads the row's current text, title and metadata when the job runs, so that a burst of updates is one embed.
-- An update that changes none of the synced columns queues nothing; one that changes the key (or the tenant) is a
-- delete of the old document and an upsert of the new one. SECURITY DEFINER: the application's role needs no grant
-- on jobs.
-- One change of a synced row as a job, merged into the document's waiting job when there is one.
CREATE FUNCTION pgseek_queue_synced(tenant text, coll text, job_kind text, key text, source integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO jobs (tenant_id, collection, kind, external_id, source_id)
    VALUES (tenant, coll, job_kind, key, source)
    ON CONFLICT (tenant_id, collection, external_id) WHERE state = 'pending'
    DO UPDATE SET kind = excluded.kind, payload = NULL, source_id = excluded.source_id, attempts = 0,
                  run_after = clock_timestamp(), error = NULL;
$$;

CREATE FUNCTION pgseek_sync_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    src sync_sources;
    old_row jsonb;
    new_row jsonb;
    watched text[];
    old_key text;
    new_key text;
    old_tenant text;
    new_tenant text;
BEGIN
    SELECT * INTO src FROM sync_sources WHERE id = TG_ARGV[0]::int;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pgseek_queue_synced(d.tenant_id, src.collection, 'delete', d.external_id, src.id)
        FROM documents d JOIN collections c ON c.id = d.collection_id
        WHERE c.name = src.collection AND d.source = 'table:' || src.table_name;
        RETURN NULL;
    END IF;
    watched := ARRAY[src.id_column, src.text_column] || src.metadata_columns;
    IF src.title_column IS NOT NULL THEN
        watched := watched || src.title_column;
    END IF;
    IF src.tenant_column IS NOT NULL THEN
        watched := watched || src.tenant_column;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_row := to_jsonb(OLD);
        old_key := old_row ->> src.id_column;
        old_tenant := coalesce(old_row ->> src.tenant_column, src.tenant_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        new_row := to_jsonb(NEW);
        new_key := new_row ->> src.id_column;
        new_tenant := coalesce(new_row ->> src.tenant_column, src.tenant_id);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (SELECT jsonb_object_agg(k, old_row -> k) FROM unnest(watched) k)
           IS NOT DISTINCT FROM (SELECT jsonb_object_agg(k, new_row -> k) FROM unnest(watched) k) THEN
            RETURN NULL;  -- no synced column changed
        END IF;
        IF old_key IS NOT DISTINCT FROM new_key AND old_tenant IS NOT DISTINCT FROM new_tenant THEN
            old_key := NULL;  -- the same document: one upsert
        END IF;
    END IF;
    IF old_key IS NOT NULL THEN
        PERFORM pgseek_queue_synced(old_tenant, src.collection, 'delete', old_key, src.id);
    END IF;
    IF new_key IS NOT NULL THEN
        PERFORM pgseek_queue_synced(new_tenant, src.collection, 'upsert', new_key, src.id);
    END IF;
    RETURN NULL;
END
$$;
