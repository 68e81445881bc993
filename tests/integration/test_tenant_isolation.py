"""Row-level security: a tenant sees its own rows, whatever the SQL says; no tenant, no rows."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.db import scope as db_scope


@pytest.fixture(scope="module")
def two_tenants(settings: Any, local_embedder: Any) -> None:
    with Seek(settings, embedder=local_embedder) as seek:
        for tenant, topic in (("acme", "Acme rockets use liquid oxygen"), ("globex", "Globex sells volcano lairs")):
            docs = [Document(f"{tenant}-{i}", f"{topic}, note {i}.", title=f"{tenant} {i}") for i in range(3)]
            report = seek.ingest_documents(docs, tenant=tenant, collection="shared")
            assert report.documents_added == 3


def _scoped_rows(database_url: str, tenant: str | None, query: str) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            if tenant is not None:
                await db_scope.enter_tenant(conn, tenant)
            else:
                await conn.execute("SET LOCAL ROLE pgseek_app")
            cur = await conn.execute(query)
            return await cur.fetchall()

    return asyncio.run(run())


@pytest.mark.usefixtures("two_tenants")
@pytest.mark.parametrize("table", ["documents", "chunks", "embeddings_1"])
def test_sql_without_a_tenant_condition_sees_only_its_tenant(database_url: str, table: str) -> None:
    tenants = _scoped_rows(database_url, "acme", f"SELECT DISTINCT tenant_id FROM {table}")
    assert tenants == [("acme",)]


@pytest.mark.usefixtures("two_tenants")
@pytest.mark.parametrize("table", ["documents", "chunks", "embeddings_1"])
def test_a_transaction_without_a_tenant_sees_nothing(database_url: str, table: str) -> None:
    assert _scoped_rows(database_url, None, f"SELECT count(*) FROM {table}") == [(0,)]


@pytest.mark.usefixtures("two_tenants")
def test_the_app_role_is_neither_superuser_nor_owner(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, (SELECT count(*) FROM pg_tables WHERE tableowner = 'pgseek_app') "
            "FROM pg_roles WHERE rolname = 'pgseek_app'"
        ).fetchone()
    assert row == (False, False, 0)


@pytest.mark.usefixtures("two_tenants")
def test_search_returns_only_the_callers_tenant(settings: Any, local_embedder: Any) -> None:
    with Seek(settings, embedder=local_embedder) as seek:
        acme = seek.search("volcano lairs for sale", k=10, tenant="acme", collection="shared")
        assert acme.hits and {h.document_id.split("-")[0] for h in acme.hits} == {"acme"}
        nobody = seek.search("volcano lairs for sale", k=10, tenant="initech", collection="shared")
        assert nobody.hits == ()
