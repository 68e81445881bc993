"""Migration 0015 on a database that holds documents, chunks and vectors (decision 0030): the keys are rewritten to
lead with the tenant, nothing is lost, searches and deletes work as before; and the settings pgseek sends are SET
LOCAL statements that hold any tenant id and end with their transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.config import Settings
from pgseek.db import queries
from pgseek.db.migrate import migrate

# What the keys were at version 14, restored on a database ingested at 15 so that 0015 can run again on real rows.
AS_AT_14 = """
ALTER TABLE embeddings_v1 DROP CONSTRAINT embeddings_v1_chunk_fkey;
ALTER TABLE embeddings_v1 DROP CONSTRAINT embeddings_v1_pkey;
ALTER TABLE chunks DROP CONSTRAINT chunks_document_fkey;
ALTER TABLE chunks DROP CONSTRAINT chunks_pkey;
ALTER TABLE documents DROP CONSTRAINT documents_pkey;
DROP INDEX documents_id_idx;
DROP INDEX chunks_id_idx;
ALTER TABLE documents ADD PRIMARY KEY (id);
ALTER TABLE chunks ADD PRIMARY KEY (id);
ALTER TABLE chunks ADD FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE;
ALTER TABLE embeddings_v1 ADD PRIMARY KEY (chunk_id);
ALTER TABLE embeddings_v1 ADD FOREIGN KEY (chunk_id) REFERENCES chunks (id) ON DELETE CASCADE;
ALTER TABLE collections DROP COLUMN partitions;
DELETE FROM pgseek_migrations WHERE version = 15;
"""
KEYS = """
SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid IN ('documents'::regclass, 'chunks'::regclass, 'embeddings_v1'::regclass) AND contype IN ('p', 'f')
  AND (contype = 'p' OR confrelid IN ('documents'::regclass, 'chunks'::regclass))
ORDER BY 1, 2"""


@pytest.fixture(scope="module")
def seek(settings: Settings, local_embedder: Any) -> Iterator[Seek]:
    with Seek(settings, embedder=local_embedder) as s:
        for tenant in ("acme", "globex"):
            docs = [Document(f"{tenant}-{i}", f"{tenant} note {i} on harbours and tides.") for i in range(5)]
            s.ingest_documents(docs, tenant=tenant, collection="old")
        yield s


def test_migration_15_rekeys_a_populated_database(seek: Seek, database_url: str) -> None:
    before = seek.search("harbours", tenant="acme", collection="old", k=5, mode="hybrid")
    with psycopg.connect(database_url) as conn:
        conn.execute(AS_AT_14)
        counts = conn.execute("SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM embeddings_v1)").fetchone()
        old_keys = conn.execute(KEYS).fetchall()
    assert all("tenant_id" not in definition for *_, definition in old_keys), old_keys

    async def upgrade() -> list[int]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await migrate(conn)

    assert asyncio.run(upgrade()) == [15]
    with psycopg.connect(database_url) as conn:
        keys = conn.execute(KEYS).fetchall()
        assert conn.execute(
            "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM embeddings_v1)"
        ).fetchone() == (counts)
    assert sorted(keys) == [
        ("chunks", "f", "FOREIGN KEY (tenant_id, document_id) REFERENCES documents(tenant_id, id) ON DELETE CASCADE"),
        ("chunks", "p", "PRIMARY KEY (tenant_id, id)"),
        ("documents", "p", "PRIMARY KEY (tenant_id, id)"),
        ("embeddings_v1", "f", "FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks(tenant_id, id) ON DELETE CASCADE"),
        ("embeddings_v1", "p", "PRIMARY KEY (tenant_id, chunk_id)"),
    ]
    after = seek.search("harbours", tenant="acme", collection="old", k=5, mode="hybrid")
    assert [h.document_id for h in after.hits] == [h.document_id for h in before.hits]
    seek.delete_document("acme-0", tenant="acme", collection="old")  # the cascade runs through the new keys
    with psycopg.connect(database_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM embeddings_v1 e JOIN chunks c ON c.id = e.chunk_id "
            "JOIN documents d ON d.id = c.document_id WHERE d.external_id = 'acme-0'"
        ).fetchone()
        orphans = conn.execute(
            "SELECT count(*) FROM embeddings_v1 e WHERE NOT EXISTS (SELECT FROM chunks c WHERE c.id = e.chunk_id)"
        ).fetchone()
    assert left == (0,) and orphans == (0,)


@pytest.mark.parametrize("tenant", ["acme", "o'brien & co", "back\\slash", 'quote"d; SET LOCAL ROLE postgres; --'])
def test_the_tenant_scope_is_set_local_and_holds_any_tenant_id(database_url: str, tenant: str) -> None:
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            conn.execute(queries.tenant_scope(tenant))
            conn.execute(queries.iterative_scan(123, 4567))
            row = conn.execute(
                "SELECT current_user, current_setting('pgseek.tenant'), current_setting('hnsw.ef_search'), "
                "current_setting('hnsw.max_scan_tuples'), current_setting('enable_sort')"
            ).fetchone()
        assert row == ("pgseek_app", tenant, "123", "4567", "off")
        after = conn.execute(
            "SELECT current_user <> 'pgseek_app', coalesce(current_setting('pgseek.tenant', true), ''), "
            "current_setting('hnsw.ef_search')"
        ).fetchone()
    # Gone with the transaction: nothing reaches the next user of a pooled connection. (hnsw.ef_search reads '' or
    # pgvector's default, 40, by whether the session has loaded pgvector.)
    assert after is not None and after[:2] == (True, "") and after[2] in ("", "40")


def test_the_settings_are_sent_as_set_local_statements(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        text = queries.tenant_scope("acme").as_string(conn) + "; " + queries.iterative_scan(40, 100).as_string(conn)
    statements = [s.strip() for s in text.split(";")]
    assert statements[0] == "SET LOCAL ROLE pgseek_app"
    assert all(s.startswith("SET LOCAL ") for s in statements) and "set_config" not in text
    assert "SET LOCAL pgseek.tenant = 'acme'" in statements
