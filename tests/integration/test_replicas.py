"""Read replicas (decision 0029): a real embedded primary and two real streaming replicas made by pg_basebackup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.db.connect import Pool, open_pool
from pgseek.db.read_router import ReadRouter
from pgseek.db.replicas import EmbeddedReplicas
from pgseek.db.server import EmbeddedServer
from pgseek.providers.local import LocalEmbedder
from pgseek.seek import AsyncSeek
from pgseek.types import Document
from tests.conftest import CountingEmbedder
from tests.pgbouncer import pgbouncer

DB = "t_replicas"
WAIT_S = 60.0


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedReplicas]:
    """A primary of its own (replicas of the session's shared server would serve every other module's reads)."""
    primary = EmbeddedServer(
        tmp_path_factory.mktemp("replica-home"), shared_buffers="128MB", maintenance_work_mem="64MB"
    )
    with psycopg.connect(primary.start(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DB}")
    started = EmbeddedReplicas(primary)
    started.start(2)
    yield started
    started.stop()
    primary.stop()


def _urls(replicas: EmbeddedReplicas) -> tuple[str, list[str]]:
    primary = make_conninfo(replicas.primary.start(), dbname=DB)
    return primary, [make_conninfo(uri, dbname=DB) for uri in replicas.running_uris()]


def _settings(replicas: EmbeddedReplicas, **more: object) -> Settings:
    primary, reads = _urls(replicas)
    return Settings(home=replicas.primary.home, database_url=primary, read_urls=",".join(reads), **more)  # type: ignore[arg-type]


def _replay(replicas: EmbeddedReplicas, *, paused: bool) -> None:
    for uri in _urls(replicas)[1]:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


def _doc(n: int, word: str) -> Document:
    return Document(f"doc-{word}-{n}", f"Report {n} about the {word} harvest in the northern valley.")


async def _ids(seek: AsyncSeek, word: str, lsn: str | None = None) -> set[str]:
    result = await seek.search(word, mode="keyword", k=50, min_lsn=lsn)
    return {hit.document_id for hit in result.hits}


async def test_searches_go_to_replicas_and_an_ingests_lsn_brings_them_to_the_primary(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    # With replay paused on both replicas, a write can only be seen on the primary: a search that misses it read a
    # replica, and one given the write's LSN, after read_wait_ms, is served by the primary and sees it.
    settings = _settings(replicas, read_your_writes=False, read_wait_ms=200, max_replica_lag_s=600)
    async with AsyncSeek(settings, embedder=embedder) as seek:
        await seek.ingest_documents([_doc(0, "saffron")])
        _replay(replicas, paused=True)
        try:
            report = await seek.ingest_documents([_doc(1, "saffron")])
            assert report.commit_lsn is not None
            for _ in range(4):
                assert await _ids(seek, "saffron") == {"doc-saffron-0"}
            assert await _ids(seek, "saffron", report.commit_lsn) == {"doc-saffron-0", "doc-saffron-1"}
            # An answer's search takes the position too: with it, it reads (and cites) what only the primary has.
            orchids = Document("doc-vanilla", "The vanilla orchids flowered in March in the southern greenhouse.")
            written = await seek.ingest_documents([orchids])
            question = "When did the vanilla orchids flower?"
            blind = await seek.ask(question, mode="keyword")
            assert blind.refused and not blind.citations
            asked = await seek.ask(question, mode="keyword", min_lsn=written.commit_lsn)
            assert [c.document_id for c in asked.citations] == ["doc-vanilla"], asked
        finally:
            _replay(replicas, paused=False)


async def test_behind_pgbouncer_searches_go_to_replicas_and_read_their_writes(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    """PgBouncer in transaction mode in front of the primary and of each replica: every setting is SET LOCAL, so a
    pooled server connection carries nothing from one transaction to the next, on the replicas as on the primary."""
    primary, reads = _urls(replicas)
    targets = {"via_primary": primary, **{f"via_replica{i}": url for i, url in enumerate(reads, 1)}}
    with pgbouncer(targets, pool_size=2) as urls:
        settings = Settings(
            home=replicas.primary.home,
            database_url=urls["via_primary"],
            read_urls=",".join(url for name, url in urls.items() if name != "via_primary"),
            pooler="transaction",
            read_your_writes=False,
        )
        async with AsyncSeek(settings, embedder=embedder) as seek:
            for n in range(6):
                report = await seek.ingest_documents([_doc(n, "nutmeg")], tenant=f"pooled-{n % 2}")
                found = await seek.search(
                    "nutmeg", mode="hybrid", k=50, tenant=f"pooled-{n % 2}", min_lsn=report.commit_lsn
                )
                assert {f"doc-nutmeg-{m}" for m in range(n % 2, n + 1, 2)} == {h.document_id for h in found.hits}
            await seek.status()  # runs the router's health check through PgBouncer
            lags = seek.replica_lags()
    assert len(lags) == len(reads) and all(lag.healthy for lag in lags), lags


async def test_a_search_with_the_ingests_commit_position_finds_the_new_document_every_time(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    async with AsyncSeek(_settings(replicas, read_your_writes=False), embedder=embedder) as seek:
        for n in range(12):
            report = await seek.ingest_documents([_doc(n, "cardamom")])
            assert f"doc-cardamom-{n}" in await _ids(seek, "cardamom", report.commit_lsn)


async def test_the_session_reads_its_own_writes_without_passing_a_position(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    async with AsyncSeek(_settings(replicas), embedder=embedder) as seek:
        for n in range(5):
            await seek.ingest_documents([_doc(n, "nutmeg")])
            assert f"doc-nutmeg-{n}" in await _ids(seek, "nutmeg")


async def test_the_session_does_not_see_what_it_deleted(replicas: EmbeddedReplicas, embedder: CountingEmbedder) -> None:
    # Replay paused: the replicas still hold the deleted document; the session's next search waits for its delete's
    # position (read_wait_ms), then reads the primary.
    settings = _settings(replicas, read_wait_ms=200, max_replica_lag_s=600)
    async with AsyncSeek(settings, embedder=embedder) as seek:
        await seek.ingest_documents([_doc(n, "mace") for n in range(3)])
        _replay(replicas, paused=True)
        try:
            await seek.delete_document("doc-mace-1")
            for _ in range(3):
                assert await _ids(seek, "mace") == {"doc-mace-0", "doc-mace-2"}
        finally:
            _replay(replicas, paused=False)


async def test_a_malformed_position_is_a_query_error(replicas: EmbeddedReplicas, embedder: CountingEmbedder) -> None:
    from pgseek.errors import QueryError

    async with AsyncSeek(_settings(replicas), embedder=embedder) as seek:
        with pytest.raises(QueryError) as caught:
            await seek.search("saffron", mode="keyword", min_lsn="yesterday")
    assert caught.value.field == "min_lsn"


async def test_stopping_a_replica_mid_load_fails_no_search(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    async with AsyncSeek(_settings(replicas), embedder=embedder) as seek:
        await seek.ingest_documents([_doc(n, "clove") for n in range(3)])
        failures: list[Exception] = []
        searches = 0
        stop = asyncio.Event()

        async def load() -> None:
            nonlocal searches
            while not stop.is_set():
                try:
                    assert len(await _ids(seek, "clove")) == 3
                except Exception as exc:  # counted, then reported
                    failures.append(exc)
                searches += 1

        workers = [asyncio.create_task(load()) for _ in range(4)]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(replicas.stop, 2)
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*workers)
        assert failures == [], failures[:3]
        assert searches > 0
        assert any(not lag.healthy for lag in seek.replica_lags())
        await asyncio.to_thread(replicas.start, 2)
        deadline = time.monotonic() + WAIT_S
        while not all(lag.healthy for lag in seek.replica_lags()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert all(lag.healthy for lag in seek.replica_lags())


async def test_a_lagging_replica_is_skipped_and_put_back_when_it_catches_up(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    settings = _settings(replicas, max_replica_lag_s=0.5)
    primary_url, (lagging, current) = _urls(replicas)
    primary = await open_pool(primary_url, settings)

    async def primary_pool() -> Pool:
        return primary

    router = ReadRouter(settings, [lagging, current], primary_pool)
    with psycopg.connect(lagging, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        async with AsyncSeek(settings, embedder=embedder) as seek:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                await seek.ingest_documents([_doc(int(time.monotonic() * 1000), "mace")])
                await router.check()
                if not router.lags()[0].healthy:
                    break
        lags = router.lags()
        assert not lags[0].healthy and lags[0].lag_bytes
        assert lags[1].healthy
        assert {(await router.target()).replica for _ in range(6)} == {current}
    finally:
        with psycopg.connect(lagging, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + WAIT_S
    while not router.lags()[0].healthy and time.monotonic() < deadline:
        await router.check()
        await asyncio.sleep(0.1)
    assert router.lags()[0].healthy
    assert {(await router.target()).replica for _ in range(6)} == {lagging, current}
    await router.close()
    await primary.close()


async def test_http_ingest_returns_its_position_and_a_search_given_it_sees_the_write(
    replicas: EmbeddedReplicas, local_embedder: LocalEmbedder
) -> None:
    operator = "operator-secret-for-the-replica-tests-0123"
    settings = _settings(replicas, read_your_writes=False, operator_key=SecretStr(operator))
    app = create_app(settings, embedder=local_embedder)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pgseek.test") as client,
    ):
        key = (await app.state.seek.create_api_key("acme", name="replicas")).key
        auth = {"Authorization": f"Bearer {key}"}
        doc = {"id": "h1", "text": "The anise harvest of the eastern hills was late this year."}
        ingested = await client.post("/v1/collections/spices/documents", json={"documents": [doc]}, headers=auth)
        assert ingested.status_code == 200, ingested.text
        lsn = ingested.json()["commit_lsn"]
        body = {"query": "anise", "mode": "keyword", "collection": "spices", "min_lsn": lsn}
        found = await client.post("/v1/search", json=body, headers=auth)
        assert found.status_code == 200, found.text
        assert [hit["document_id"] for hit in found.json()["hits"]] == ["h1"]
        refused = await client.post("/v1/search", json={**body, "min_lsn": "soon"}, headers=auth)
        assert refused.status_code == 422
        assert "min_lsn" in refused.text
        question = {"question": "How was the anise harvest?", "collection": "spices", "min_lsn": lsn}
        answered = await client.post("/v1/ask", json=question, headers=auth)
        assert answered.status_code == 200 and [c["document_id"] for c in answered.json()["citations"]] == ["h1"]
        bad = await client.post("/v1/ask", json={**question, "min_lsn": "0/"}, headers=auth)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "min_lsn"
        metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {operator}"})).text
        assert "pgseek_replica_in_rotation{" in metrics


async def test_capacity_counts_the_replicas_and_says_they_share_this_machine(
    replicas: EmbeddedReplicas, embedder: CountingEmbedder
) -> None:
    # Both replicas run beside the primary here: the report counts them, in rotation, and says they share its cores
    # rather than multiplying its throughput.
    async with AsyncSeek(_settings(replicas, max_replica_lag_s=600), embedder=embedder) as seek:
        await seek.ingest_documents([_doc(n, "sumac") for n in range(3)])
        report = await seek.capacity(queries=3)
    m = report.measured
    assert (m.read_replicas, m.replicas_in_rotation, m.replicas_share_machine) == (2, 2, True)
    now = report.scenarios[0]
    shared = "2 read replica(s) (2 in rotation now) on the primary's machine share its cores"
    assert any(shared in r for r in now.reasons)
    assert any("not x3" in r and "each replica holds the whole index" in r for r in now.reasons)
