"""Behind PgBouncer in transaction mode: concurrent clients share a few server connections, and no setting, role
or tenant of one client's transaction is ever seen by another transaction (its own next one included)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from numpy.typing import NDArray
from psycopg.conninfo import conninfo_to_dict

from pgseek import AsyncSeek, Document, Seek
from pgseek.config import Settings
from pgseek.db import scope as db_scope
from pgseek.db.connect import prepare_database, transaction_pooled
from pgseek.providers.local import LocalEmbedder
from tests.conftest import DelegatingEmbedder
from tests.pgbouncer import pgbouncer

POOL_SIZE = 2  # server connections per (database, user): far fewer than the clients below
TENANTS = ("acme", "globex", "initech")
COLLECTION = "pooled"
READ_STATE = (
    "SELECT current_setting('hnsw.ef_search'), current_setting('pgseek.tenant', true), current_user::text, "
    "pg_backend_pid()"
)


@pytest.fixture(scope="module")
def pgbouncer_url(database_url: str) -> Iterator[str]:
    """A PgBouncer in transaction mode on a free port, in front of this module's database (migrated first)."""
    asyncio.run(prepare_database(database_url))
    dbname = str(conninfo_to_dict(database_url)["dbname"])
    with pgbouncer({dbname: database_url}, pool_size=POOL_SIZE) as urls:
        yield urls[dbname]


class SerialEmbedder(DelegatingEmbedder):
    """The real embedder behind a lock and a cache: many concurrent clients share one model."""

    def __init__(self, inner: LocalEmbedder) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self._cache: dict[tuple[tuple[str, ...], str], NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        key = (tuple(texts), purpose)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self.inner.embed(texts, purpose=purpose)
            return self._cache[key]


@pytest.fixture(scope="module")
def serial_embedder(local_embedder: LocalEmbedder) -> SerialEmbedder:
    return SerialEmbedder(local_embedder)


@pytest.fixture(scope="module")
def three_tenants(database_url: str, pgseek_home: Path, serial_embedder: SerialEmbedder) -> None:
    """The same documents under three tenants (ingested directly): any leak of tenant would show in the hits."""
    with Seek(Settings(home=pgseek_home, database_url=database_url), embedder=serial_embedder) as seek:
        for tenant in TENANTS:
            docs = [
                Document(f"{tenant}-{i}", f"Rockets, volcano lairs and staplers: inventory note {i}.", title=f"{i}")
                for i in range(6)
            ]
            report = seek.ingest_documents(docs, tenant=tenant, collection=COLLECTION)
            assert report.documents_added == 6


def _client_settings(pgseek_home: Path, url: str, *, tenant: str, ef_search: int) -> Settings:
    return Settings(
        home=pgseek_home,
        database_url=url,
        pooler="transaction",
        tenant=tenant,
        collection=COLLECTION,
        ef_search=ef_search,
        exact_search_below=0,  # always the HNSW path, which SET LOCALs ef_search and the iterative scan
        pool_min_size=1,
        pool_max_size=2,
    )


def test_port_6432_or_the_setting_means_a_transaction_pooler() -> None:
    assert transaction_pooled("postgresql://app@db.example:6432/app", Settings(pooler="none"))
    assert transaction_pooled("host=db.example port=6432 dbname=app", Settings(pooler="none"))
    assert transaction_pooled("postgresql://app@db.example:5432/app", Settings(pooler="transaction"))
    assert not transaction_pooled("postgresql://app@db.example:5432/app", Settings(pooler="none"))
    assert not transaction_pooled("postgresql://postgres:@/postgres?host=/tmp/pgdata", Settings(pooler="none"))


def test_session_state_does_leak_through_this_pgbouncer(pgbouncer_url: str) -> None:
    """The control: a plain SET outlives its transaction and reaches another client, so the tests below can see
    a leak if pgseek ever relied on session state."""

    async def run() -> str | None:
        async with (
            await psycopg.AsyncConnection.connect(pgbouncer_url, autocommit=True, prepare_threshold=None) as a,
            await psycopg.AsyncConnection.connect(pgbouncer_url, autocommit=True, prepare_threshold=None) as b,
        ):
            await a.execute("SET pgseek.leak_probe = 'leaked'")
            cur = await b.execute("SELECT current_setting('pgseek.leak_probe', true)")
            row = await cur.fetchone()
            return None if row is None else row[0]

    assert asyncio.run(run()) == "leaked"


def test_no_setting_role_or_tenant_leaks_between_transactions(pgbouncer_url: str) -> None:
    clients, rounds = 16, 12

    async def client(i: int) -> list[int]:
        tenant, ef = f"tenant-{i}", str(50 + 7 * i)
        pids: list[int] = []
        async with await psycopg.AsyncConnection.connect(pgbouncer_url, prepare_threshold=None) as conn:
            for _ in range(rounds):
                async with conn.transaction():
                    await conn.execute("SELECT '[1]'::vector")  # loads pgvector, which defines hnsw.ef_search
                    await db_scope.enter_tenant(conn, tenant)
                    await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (ef,))
                    await asyncio.sleep(0.001)  # others run while this transaction holds its server connection
                    cur = await conn.execute(READ_STATE)
                    scoped = await cur.fetchone()
                assert scoped is not None and scoped[:3] == (ef, tenant, "pgseek_app")
                async with conn.transaction():
                    await conn.execute("SELECT '[1]'::vector")
                    cur = await conn.execute(READ_STATE)
                    plain = await cur.fetchone()
                assert plain is not None and plain[0] == "40" and plain[1] in ("", None) and plain[2] == "postgres"
                pids += [scoped[3], plain[3]]
                await asyncio.sleep(0)
        return pids

    async def run() -> list[list[int]]:
        return await asyncio.gather(*(client(i) for i in range(clients)))

    per_client = asyncio.run(run())
    backends = {pid for pids in per_client for pid in pids}
    assert len(backends) <= POOL_SIZE, "more server connections than PgBouncer's pool: the test did not share them"
    assert any(len(set(pids)) > 1 for pids in per_client), "no client's transactions moved between server connections"


@pytest.mark.usefixtures("three_tenants")
def test_concurrent_clients_see_only_their_tenant(
    pgbouncer_url: str, pgseek_home: Path, serial_embedder: SerialEmbedder
) -> None:
    clients, searches = 12, 20
    modes = ("vector", "hybrid", "keyword")

    async def client(i: int) -> int:
        tenant = TENANTS[i % len(TENANTS)]
        settings = _client_settings(pgseek_home, pgbouncer_url, tenant=tenant, ef_search=10 + 13 * i)
        async with AsyncSeek(settings, embedder=serial_embedder) as seek:
            for n in range(searches):
                mode = modes[(i + n) % len(modes)]
                result = await seek.search("rockets and volcano lairs", k=5, mode=mode)
                assert result.hits, (tenant, mode)
                assert {h.document_id.split("-")[0] for h in result.hits} == {tenant}, (tenant, mode)
                if mode != "keyword":
                    assert result.plan == "iterative"
        return searches

    async def run() -> int:
        done = await asyncio.gather(*(client(i) for i in range(clients)))
        return sum(done)

    assert asyncio.run(asyncio.wait_for(run(), timeout=50)) == clients * searches


@pytest.mark.usefixtures("three_tenants")
@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_every_search_mode_works_without_prepared_statements(
    mode: str, pgbouncer_url: str, pgseek_home: Path, serial_embedder: SerialEmbedder
) -> None:
    settings = _client_settings(pgseek_home, pgbouncer_url, tenant="globex", ef_search=64)
    with Seek(settings, embedder=serial_embedder) as seek:
        for _ in range(8):  # past psycopg's default prepare threshold (5), were it on
            result = seek.search("staplers inventory", k=3, mode=mode)
            assert result.hits and all(h.document_id.startswith("globex-") for h in result.hits)


def test_prepare_database_and_status_go_through_the_pooler(
    pgbouncer_url: str, pgseek_home: Path, serial_embedder: Any
) -> None:
    settings = _client_settings(pgseek_home, pgbouncer_url, tenant="acme", ef_search=40)
    with Seek(settings, embedder=serial_embedder) as seek:
        assert seek.status() is not None
