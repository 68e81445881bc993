"""Where cache entries live: a bounded in-process LRU with a TTL, or Redis (pgseek.cache.redis_store). Values are
bytes the caller encoded (JSON, or raw float32 for vectors): never pickle, so a shared Redis cannot hand a process
code to run."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol


class StoreUnavailable(Exception):
    """The store cannot answer now. ``failed``: this call failed (a timeout, a refused connection), as opposed to
    being skipped while the store is known to be down."""

    def __init__(self, message: str, *, failed: bool) -> None:
        super().__init__(message)
        self.failed = failed


class Store(Protocol):
    kind: str
    """"memory" or "redis"."""

    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, None when absent or expired; StoreUnavailable when the store cannot answer."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds at most; StoreUnavailable when the store cannot take it."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    """Least recently used entries go first once the values' bytes pass ``max_bytes``; an entry older than its TTL
    is never returned. One event loop uses it (the facade's), so it needs no lock."""

    kind = "memory"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The values' bytes held now."""
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl, value)
        self._bytes += len(value)
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= len(value)
