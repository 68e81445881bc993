"""Row-level security: a tenant sees its own rows, whatever the SQL says; no tenant, no rows."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.db import scope as db_scope
from pgseek.filters import Condition, SearchFilter
from tests.conftest import NearbyVectors


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
@pytest.mark.parametrize("table", ["documents", "chunks", "embeddings_v1"])
def test_sql_without_a_tenant_condition_sees_only_its_tenant(database_url: str, table: str) -> None:
    tenants = _scoped_rows(database_url, "acme", f"SELECT DISTINCT tenant_id FROM {table}")
    assert tenants == [("acme",)]


@pytest.mark.usefixtures("two_tenants")
@pytest.mark.parametrize("table", ["documents", "chunks", "embeddings_v1"])
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


def _probe(seek: Seek) -> list[tuple[Any, ...]]:
    """What tenant "small" learns from its searches: the plan, the count behind it, the hits."""
    seen: list[tuple[Any, ...]] = []
    for mode in ("vector", "hybrid"):
        for filter_ in (None, SearchFilter(metadata=(Condition("kind", "eq", "note"),))):
            result = seek.search("harbour notes", k=5, mode=mode, filter=filter_, tenant="small", collection="volumes")
            seen.append((mode, filter_ is not None, result.plan, result.estimated_rows, result.fewer_than_k))
            seen.append(tuple((h.document_id, h.position, round(h.score, 6)) for h in result.hits))
    return seen


def _notes(tenant: str, start: int, count: int) -> list[Document]:
    return [
        Document(f"{tenant}-{i}", f"Harbour note {i} of {tenant}.", metadata={"kind": "note"})
        for i in range(start, start + count)
    ]


def test_a_tenants_plan_and_estimate_do_not_depend_on_another_tenants_volume(
    settings: Any, local_embedder: Any
) -> None:
    """The plan and estimated_rows a tenant is told come from its own rows: the same whether another tenant has 10
    chunks in the collection or 2,000 (the planner's estimate, made from every tenant's statistics, did not)."""
    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(_notes("small", 0, 20), tenant="small", collection="volumes")
        seek.ingest_documents(_notes("big", 0, 10), tenant="big", collection="volumes")
        before = _probe(seek)
    with Seek(settings, embedder=NearbyVectors(local_embedder)) as bulk:
        report = bulk.ingest_documents(_notes("big", 10, 1990), tenant="big", collection="volumes")
        assert report.documents_added == 1990  # and the ingest ran ANALYZE: the statistics now know "big"
    with Seek(settings, embedder=local_embedder) as seek:
        after = _probe(seek)
    assert before[0][2:4] == ("exact", 20)
    assert after == before
