"""The cache stores and entries without a database: LRU by bytes, TTL, JSON round trips, a dead Redis."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pgseek.cache.caches import NamedCache
from pgseek.cache.codec import EntryError, decode_result, decode_vector, encode_result, encode_vector
from pgseek.cache.redis_store import RedisStore
from pgseek.cache.stores import MemoryStore, StoreUnavailable
from pgseek.types import CacheUse, Hit, LegRank, QueryVector, SearchResult, Timings
from tests.redis_server import free_port


async def test_the_memory_store_drops_the_least_recently_used_past_its_bytes() -> None:
    store = MemoryStore(max_bytes=30)
    for key in ("a", "b", "c"):
        await store.set(key, b"x" * 10, ttl=60)
    assert await store.get("a") == b"x" * 10  # a is now the most recent
    await store.set("d", b"y" * 10, ttl=60)
    assert await store.get("b") is None
    assert [await store.get(k) for k in ("a", "c", "d")] == [b"x" * 10, b"x" * 10, b"y" * 10]
    assert store.size == 30 and len(store) == 3
    await store.set("huge", b"z" * 31, ttl=60)  # larger than the whole store: not kept, nothing evicted
    assert await store.get("huge") is None and len(store) == 3


async def test_an_entry_past_its_ttl_is_never_returned() -> None:
    store = MemoryStore(max_bytes=1000)
    await store.set("short", b"1", ttl=0.001)
    await store.set("long", b"2", ttl=60)
    await asyncio.sleep(0.01)
    assert await store.get("short") is None
    assert await store.get("long") == b"2"
    assert store.size == 1


def _result() -> SearchResult:
    vector = np.linspace(-1, 1, 8, dtype=np.float32)
    hit = Hit(
        document_id="doc/1",
        title="Tides ✓",
        source=None,
        chunk="High water at noon",
        position=2,
        score=0.123456789,
        metadata={"lang": "en", "tags": ["a", 1, None, 2.5], "nested": {"x": True}},
        chunk_id=42,
        heading_path=("A", "B"),
        start=3,
        end=20,
        legs={"vector": LegRank(1, 0.9), "keyword": LegRank(3, 4.5)},
        page=4,
        page_end=5,
    )
    model = ("sentence-transformers", "m", "1", 8, "float32")
    return SearchResult(
        (hit,),
        Timings(1.0, 2.0, 3.0),
        "hybrid",
        plan="exact",
        estimated_rows=7,
        fewer_than_k=True,
        distance="cosine",
        query_vector=QueryVector(model, vector),
        cache=CacheUse("miss", "miss"),
    )


def test_a_result_comes_back_from_json_as_it_went_in_but_for_timings_and_cache_use() -> None:
    original = _result()
    timings = Timings(0.0, 0.5, 0.5)
    decoded = decode_result(encode_result(original), timings)
    assert decoded.hits == original.hits
    assert decoded.timings_ms == timings and decoded.cache == CacheUse()
    assert (decoded.mode, decoded.plan, decoded.estimated_rows, decoded.fewer_than_k, decoded.distance) == (
        "hybrid",
        "exact",
        7,
        True,
        "cosine",
    )
    assert decoded.query_vector is not None and original.query_vector is not None
    assert decoded.query_vector.model == original.query_vector.model
    assert np.array_equal(decoded.query_vector.vector, original.query_vector.vector)
    assert decoded.to_json(explain=True)["hits"] == original.to_json(explain=True)["hits"]


def test_an_entry_that_does_not_decode_is_an_entry_error() -> None:
    with pytest.raises(EntryError):
        decode_result(b"\x80\x04pickle", Timings(0, 0, 0))
    with pytest.raises(EntryError):
        decode_result(b'{"hits": []}', Timings(0, 0, 0))
    vector = np.ones(4, dtype=np.float32)
    assert np.array_equal(decode_vector(encode_vector(vector), 4), vector)
    with pytest.raises(EntryError, match="not 8 float32s"):
        decode_vector(encode_vector(vector), 8)


async def test_a_dead_redis_fails_once_then_is_skipped_until_retried() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05, retry_after=3600)
    cache = NamedCache("result", store, ttl=60)
    try:
        with pytest.raises(StoreUnavailable) as first:
            await store.get("k")
        assert first.value.failed
        with pytest.raises(StoreUnavailable) as second:  # the breaker is open: not even tried
            await store.get("k")
        assert not second.value.failed
        assert await cache.get("k") == ("off", None)
        await cache.put("k", b"v")
        assert (cache.hits, cache.misses, cache.errors) == (0, 0, 0)  # skipped calls are no new failures
    finally:
        await store.close()


async def test_counts_follow_hits_and_misses() -> None:
    cache = NamedCache("embedding", MemoryStore(1000), ttl=60)
    assert await cache.get("q") == ("miss", None)
    await cache.put("q", b"v")
    assert await cache.get("q") == ("hit", b"v")
    off = NamedCache("embedding", None, ttl=60)
    assert await off.get("q") == ("off", None)
    assert (cache.hits, cache.misses, cache.errors) == (1, 1, 0)
    assert cache.counts().store == "memory" and off.counts().store == "off"
