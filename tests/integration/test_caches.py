"""The caches against the real server, the real model and real Redis (docs/caching.md, decision 0023): a search
after a write always sees it; one tenant never receives another's cached result; a version switch or a fusion change
invalidates; query vectors are keyed by the model's identity; a Redis killed under load fails no search."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from pgseek import Document, Seek
from pgseek.cache.caches import SearchCaches
from pgseek.config import Settings
from pgseek.filters import build_filter
from pgseek.search.cached import CacheUses, embed_query
from pgseek.search.hybrid import Fusion
from pgseek.seek import AsyncSeek
from pgseek.types import ModelInfo
from tests.conftest import CountingEmbedder, DelegatingEmbedder
from tests.redis_server import RedisServer

QUERY = "harbour tide notes"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def cached_settings(request: pytest.FixtureRequest, settings: Settings, redis_server: RedisServer) -> Settings:
    return settings.model_copy(update={"redis_url": redis_server.url if request.param == "redis" else None})


def _note(i: int) -> Document:
    return Document(f"note-{i}", f"Harbour tide notes, entry {i}: the tide turned at {i} o'clock by the quay.")


def test_a_search_after_a_write_sees_it_every_time(cached_settings: Settings, embedder: CountingEmbedder) -> None:
    collection = f"writes_{'redis' if cached_settings.redis_url else 'memory'}"
    with Seek(cached_settings, embedder=embedder) as seek:
        seek.ingest_documents([_note(0)], collection=collection)
        for i in range(1, 6):
            for mode in ("vector", "keyword", "hybrid"):
                seek.search(QUERY, k=20, mode=mode, collection=collection)  # cache it
                again = seek.search(QUERY, k=20, mode=mode, collection=collection)
                assert again.cache.result == "hit"
            seek.ingest_documents([_note(i)], collection=collection)
            for mode in ("vector", "keyword", "hybrid"):
                result = seek.search(QUERY, k=20, mode=mode, collection=collection)
                assert result.cache.result == "miss", (i, mode)
                assert {h.document_id for h in result.hits} == {f"note-{j}" for j in range(i + 1)}, (i, mode)
        seek.ingest_documents(
            [replace(_note(3), text="Harbour tide notes, rewritten: spring tides by the quay.")], collection=collection
        )
        rewritten = seek.search(QUERY, k=20, mode="hybrid", collection=collection)
        assert [h.chunk for h in rewritten.hits if h.document_id == "note-3"] == [
            "Harbour tide notes, rewritten: spring tides by the quay."
        ]
        seek.delete_document("note-0", collection=collection)
        after_delete = seek.search(QUERY, k=20, mode="hybrid", collection=collection)
        assert "note-0" not in {h.document_id for h in after_delete.hits}
        seek.delete_collection(collection)
        seek.ingest_documents([_note(9)], collection=collection)  # a collection made again under the same name
        fresh = seek.search(QUERY, k=20, mode="hybrid", collection=collection)
        assert fresh.cache.result == "miss" and {h.document_id for h in fresh.hits} == {"note-9"}


def test_tenant_b_never_receives_tenant_a_cached_result(
    settings: Settings, redis_server: RedisServer, embedder: CountingEmbedder
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_server.url})
    with Seek(shared, embedder=embedder) as a, Seek(shared, embedder=embedder) as b:
        a.ingest_documents(
            [Document("a-secret", "Harbour tide notes of tenant A: the vault code is 1234.")],
            collection="shared",
            tenant="tenant-a",
        )
        b.ingest_documents(
            [Document("b-own", "Harbour tide notes of tenant B: nothing secret here.")],
            collection="shared",
            tenant="tenant-b",
        )
        for mode in ("vector", "keyword", "hybrid"):
            first = a.search(QUERY, mode=mode, collection="shared", tenant="tenant-a")
            assert a.search(QUERY, mode=mode, collection="shared", tenant="tenant-a").cache.result == "hit"
            assert [h.document_id for h in first.hits] == ["a-secret"]
            # Both tenants are at generation 1 of one collection: only the tenant in the key tells them apart.
            theirs = b.search(QUERY, mode=mode, collection="shared", tenant="tenant-b")
            assert theirs.cache.result == "miss"
            if mode == "vector":  # B's first search of this text: not even A's query vector serves it
                assert theirs.cache.embedding == "miss"
            assert [h.document_id for h in theirs.hits] == ["b-own"]
            nobody = b.search(QUERY, mode=mode, collection="shared", tenant="tenant-c")
            assert nobody.hits == ()


def test_activation_rollback_and_a_fusion_change_invalidate(settings: Settings, embedder: CountingEmbedder) -> None:
    text = " ".join(f"Harbour tide notes, page {i}: the quay floods at the spring tide, boats wait." for i in range(12))
    with Seek(settings, embedder=embedder) as seek:
        seek.ingest_documents([Document("log", text)], collection="versions")
        seek.models.add("versions", chunk_tokens=32, chunk_overlap=4)
        seek.models.backfill("versions")
        before = seek.search(QUERY, k=50, collection="versions", mode="hybrid")
        assert seek.search(QUERY, k=50, collection="versions", mode="hybrid").cache.result == "hit"
        seek.models.activate("versions", force=True)
        switched = seek.search(QUERY, k=50, collection="versions", mode="hybrid")
        assert switched.cache.result == "miss"
        assert len(switched.hits) > len(before.hits)  # 32-token chunks: more of them
        seek.models.rollback("versions")
        back = seek.search(QUERY, k=50, collection="versions", mode="hybrid")
        assert back.cache.result == "miss" and len(back.hits) == len(before.hits)
        assert seek.search(QUERY, k=50, collection="versions", mode="hybrid").cache.result == "hit"
        seek.set_fusion(Fusion(method="rrf", rrf_k=5, vector_weight=1.0, keyword_weight=2.0), collection="versions")
        assert seek.search(QUERY, k=50, collection="versions", mode="hybrid").cache.result == "miss"


class OtherVersion(DelegatingEmbedder):
    """The real model under another identity (another pinned version): its vectors must not be taken for the real
    model's, even for the very same text."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls = 0

    @property
    def info(self) -> ModelInfo:
        return replace(self.inner.info, version="another-revision")

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        self.calls += 1
        return self.inner.embed(texts, purpose=purpose)


async def test_query_vectors_are_keyed_by_the_model_identity(settings: Settings, embedder: CountingEmbedder) -> None:
    caches = SearchCaches.from_settings(settings)
    other = OtherVersion(embedder.inner)
    vectors: list[NDArray[np.float32]] = []

    async def use(model: Any, text: str) -> str:
        uses = CacheUses()
        vectors.append(await embed_query(caches, model, text, uses, tenant="default"))
        return uses.embedding

    assert await use(embedder, QUERY) == "miss" and embedder.texts_embedded == 1
    assert await use(embedder, QUERY) == "hit" and embedder.texts_embedded == 1
    assert np.array_equal(vectors[0], vectors[1])
    assert await use(other, QUERY) == "miss" and other.calls == 1  # same text, another model: embedded again
    assert await use(embedder, QUERY + " ") == "miss"  # exact text only: no "similar" query is ever served
    with Seek(settings, embedder=embedder) as seek:
        seek.ingest_documents([_note(1)], collection="modes")
        assert seek.search(QUERY, mode="keyword", collection="modes").cache.embedding == "off"
        uncached = seek.search(QUERY, mode="vector", collection="modes", k=3)
        off = settings.model_copy(update={"cache": False})
    with Seek(off, embedder=embedder) as seek:
        result = seek.search(QUERY, mode="vector", collection="modes", k=3)
        assert result.cache.embedding == "off" and result.cache.result == "off"
        assert result.hits == uncached.hits
    await caches.close()


async def test_redis_killed_under_load_fails_no_search(settings: Settings, local_embedder: Any, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path).start()
    configured = settings.model_copy(update={"redis_url": redis.url, "redis_timeout": 0.05, "redis_retry_after": 0.2})
    queries = [f"harbour tide notes {word}" for word in ("quay", "boats", "spring", "noon", "storm", "gulls")]
    outcomes: list[str] = []
    failures: list[BaseException] = []
    try:
        async with AsyncSeek(configured, embedder=local_embedder) as seek:
            await seek.ingest_documents([_note(i) for i in range(8)], collection="outage")

            async def client(n: int, rounds: int) -> None:
                for r in range(rounds):
                    try:
                        result = await seek.search(queries[(n + r) % len(queries)], mode="hybrid", collection="outage")
                        outcomes.append(result.cache.result)
                    except BaseException as exc:  # the test counts every failure, of any kind
                        failures.append(exc)

            async def kill_when_hitting() -> None:
                while "hit" not in outcomes and len(outcomes) + len(failures) < 80:
                    await asyncio.sleep(0.005)
                redis.stop()  # with searches in flight: some are between their Redis calls

            await asyncio.gather(kill_when_hitting(), *(client(n, 20) for n in range(4)))
            assert failures == [] and "hit" in outcomes
            assert outcomes[-1] != "hit"  # killed before the last search of the load
            outcomes.clear()
            await asyncio.gather(*(client(n, 15) for n in range(4)))
            assert failures == []
            assert outcomes and "hit" not in outcomes  # uncached while Redis is gone
            counts = {c.name: c for c in seek.cache_counts()}
            assert counts["result"].errors >= 1
            redis.start()  # back on the same port: the breaker tries it again and caching resumes
            outcomes.clear()
            for _ in range(20):
                await asyncio.sleep(0.25)
                await client(0, 2)
                if "hit" in outcomes:
                    break
            assert "hit" in outcomes and failures == []
    finally:
        redis.stop()


def test_a_metadata_only_change_is_seen_by_the_next_search(settings: Settings, embedder: CountingEmbedder) -> None:
    """A change of metadata alone re-embeds nothing and may leave every chunk in place; the cached result, whose
    hits carry the metadata (and whose filters read it), must still be dropped."""
    with Seek(settings, embedder=embedder) as seek:
        doc = replace(_note(1), metadata={"shelf": "old"})
        seek.ingest_documents([doc], collection="meta_cache")
        for _ in range(2):
            first = seek.search(QUERY, k=5, mode="hybrid", collection="meta_cache")
        assert first.cache.result == "hit" and first.hits[0].metadata == {"shelf": "old"}
        seek.ingest_documents([replace(doc, metadata={"shelf": "new"})], collection="meta_cache")
        after = seek.search(QUERY, k=5, mode="hybrid", collection="meta_cache")
        assert after.hits[0].metadata == {"shelf": "new"}
        filtered = seek.search(QUERY, k=5, mode="hybrid", collection="meta_cache", filter=build_filter(["shelf=new"]))
        assert [h.document_id for h in filtered.hits] == ["note-1"]
