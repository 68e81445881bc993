"""The two caches a search uses, each with its hit, miss and error counts: query embeddings and search results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pgseek.cache.stores import MemoryStore, Store, StoreUnavailable
from pgseek.config import Settings

Use = Literal["hit", "miss", "off"]
"""What a cache did for one search: served it, was asked and had nothing, or was not asked (turned off, not needed,
or its store unavailable)."""
MAX_ENTRY_BYTES = 4 * 1024 * 1024
"""A larger entry is not cached (a k = 1000 result of long chunks): it would evict hundreds of small ones."""


@dataclass(frozen=True, slots=True)
class CacheCounts:
    name: str
    store: str
    """"memory", "redis" or "off"."""
    hits: int
    misses: int
    errors: int


class NamedCache:
    """One cache: a store, a TTL, and counts. A store that fails costs the lookup, never the search."""

    def __init__(self, name: str, store: Store | None, ttl: float) -> None:
        self.name = name
        self.store = store
        self.ttl = ttl
        self.hits = 0
        self.misses = 0
        self.errors = 0

    @property
    def enabled(self) -> bool:
        return self.store is not None

    async def get(self, key: str) -> tuple[Use, bytes | None]:
        if self.store is None:
            return "off", None
        try:
            value = await self.store.get(key)
        except StoreUnavailable as exc:
            self.errors += exc.failed
            return "off", None
        if value is None:
            self.misses += 1
            return "miss", None
        self.hits += 1
        return "hit", value

    def undo_hit(self) -> None:
        """The hit's value did not decode (another format): count it a miss."""
        self.hits -= 1
        self.misses += 1
        self.errors += 1

    async def put(self, key: str, value: bytes) -> None:
        if self.store is None or len(value) > MAX_ENTRY_BYTES:
            return
        try:
            await self.store.set(key, value, self.ttl)
        except StoreUnavailable as exc:
            self.errors += exc.failed

    def counts(self) -> CacheCounts:
        kind = "off" if self.store is None else self.store.kind
        return CacheCounts(self.name, kind, self.hits, self.misses, self.errors)


class SearchCaches:
    def __init__(self, embeddings: NamedCache, results: NamedCache) -> None:
        self.embeddings = embeddings
        self.results = results

    @classmethod
    def from_settings(cls, s: Settings) -> SearchCaches:
        """In Redis when ``redis_url`` is set (both caches share its client), in this process otherwise."""
        shared: Store | None = None
        if s.cache and s.redis_url is not None:
            from pgseek.cache.redis_store import RedisStore  # only then: redis is not imported otherwise

            shared = RedisStore(s.redis_url, timeout=s.redis_timeout, retry_after=s.redis_retry_after)

        def store(enabled: bool, memory_mb: int) -> Store | None:
            if not (s.cache and enabled):
                return None
            return shared or MemoryStore(memory_mb * 1024 * 1024)

        return cls(
            NamedCache("embedding", store(s.cache_embeddings, s.cache_embeddings_memory_mb), s.cache_embeddings_ttl),
            NamedCache("result", store(s.cache_results, s.cache_results_memory_mb), s.cache_results_ttl),
        )

    def counts(self) -> list[CacheCounts]:
        return [self.embeddings.counts(), self.results.counts()]

    async def close(self) -> None:
        closed: set[int] = set()
        for cache in (self.embeddings, self.results):
            if cache.store is not None and id(cache.store) not in closed:
                closed.add(id(cache.store))
                await cache.store.close()
