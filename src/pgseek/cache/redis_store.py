"""Redis as a cache store: every call bounded by a short timeout, and after a failure no call at all for a while
(a circuit breaker), so that a dead or slow Redis costs a search at most one timeout per back-off period, never an
error. The only module that imports redis (loaded when PGSEEK_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from pgseek.cache.stores import StoreUnavailable

log = logging.getLogger("pgseek.cache")


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, *, timeout: float, retry_after: float) -> None:
        self.url = url
        self.timeout = timeout
        self.retry_after = retry_after
        self._client: Redis | None = None
        self._down_until = 0.0
        self._down = False

    def _redis(self) -> Redis:
        # Made on first use, on the event loop that uses it (a sync Seek runs its own loop).
        if self._client is None:
            self._client = Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),  # a retry would double the time a dead Redis costs a search
            )
        return self._client

    async def get(self, key: str) -> bytes | None:
        self._check()
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._redis().get(key)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        self._up()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._check()
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis().set(key, value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        self._up()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RedisError, OSError):  # its server gone: nothing left to release
                await client.aclose()

    def _check(self) -> None:
        if not self._down:
            return
        now = time.monotonic()
        if now < self._down_until:
            raise StoreUnavailable("Redis is down; searching uncached until it is retried", failed=False)
        self._down_until = now + self.retry_after  # this call probes; the others skip until it has answered

    def _failed(self, exc: BaseException) -> StoreUnavailable:
        if not self._down:  # once per outage: a dead Redis must not write a line per search
            log.warning(
                "Redis cache unavailable (%s); searching uncached, retrying every %.1f s",
                exc or type(exc).__name__,
                self.retry_after,
            )
        self._down = True
        self._down_until = time.monotonic() + self.retry_after
        return StoreUnavailable(f"Redis: {exc or type(exc).__name__}", failed=True)

    def _up(self) -> None:
        if self._down:
            self._down = False
            log.warning("Redis cache available again")
