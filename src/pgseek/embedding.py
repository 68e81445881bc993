"""Which embedder serves a collection: the model it was embedded with (its ``embedding_models`` row, rebuilt through
the registry), or, for a collection that holds no vectors yet, the model the settings name. Each model is loaded once
per process and shared by every collection embedded with it.

The lookup is one indexed query per call rather than a cache by collection name: another process may drop a
collection and create one of the same name with another model, and a stale entry would then embed queries with the
wrong model, silently.
"""

from __future__ import annotations

import asyncio
import time

from pgseek.config import Settings
from pgseek.db import catalog
from pgseek.db.connect import Pool, translate_errors
from pgseek.precision import storage_precision
from pgseek.providers.protocols import Embedder, close_embedder
from pgseek.providers.registry import EmbedderSpec, make_embedder
from pgseek.providers.storage import stored_as
from pgseek.types import ModelInfo

__all__ = ["Embedders"]

IdentityKey = tuple[str, str, str, int, str]


class Embedders:
    """The embedders of one facade. ``given`` (an embedder passed to ``AsyncSeek``) serves every collection."""

    def __init__(self, settings: Settings, given: Embedder | None = None) -> None:
        self._settings = settings
        # A given embedder is stored as the settings say too (auto: float16 when too wide for float32).
        if given is not None:
            given = stored_as(given, storage_precision(given.info, settings.embed_precision))
        self._given = given
        self._by_key: dict[IdentityKey, Embedder] = {}
        self._by_spec: dict[EmbedderSpec, Embedder] = {}
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """Whether some model is ready (readiness reports it)."""
        return self._given is not None or bool(self._by_key)

    async def for_collection(self, pool: Pool, collection: str) -> tuple[Embedder, float]:
        """The collection's embedder, and the milliseconds spent loading it now (0 when it already was)."""
        if self._given is not None:
            return self._given, 0.0
        async with translate_errors("reading the collection's embedding model"), pool.connection() as conn:
            stored = await catalog.collection_model(conn, collection)
        return await self._load(stored)

    async def for_model(self, info: ModelInfo) -> Embedder:
        """The embedder of a stored model identity (a version's), loaded on first use. A given embedder serves only
        its own identity here: a version of another model gets its own."""
        if self._given is not None and self._given.info.key == info.key:
            return self._given
        embedder, _ = await self._load(info)
        return embedder

    async def for_spec(self, spec: EmbedderSpec) -> Embedder:
        """The embedder a spec names (a new version's model), loaded on first use."""
        found = self._by_spec.get(spec)
        if found is not None:
            return found
        async with self._lock:
            if spec not in self._by_spec:
                built = await asyncio.to_thread(make_embedder, spec, self._settings)
                embedder = self._by_key.setdefault(built.info.key, built)
                if embedder is not built:
                    close_embedder(built)
                self._by_spec[spec] = embedder
            return self._by_spec[spec]

    async def preload(self) -> float:
        """Load the model the settings name (a new collection's, and most collections'); the milliseconds spent (0
        when it already was, or when an embedder was given)."""
        if self._given is not None:
            return 0.0
        _, load_ms = await self._load(None)
        return load_ms

    async def _load(self, stored: ModelInfo | None) -> tuple[Embedder, float]:
        spec = EmbedderSpec.from_settings(self._settings) if stored is None else EmbedderSpec.from_identity(stored)
        found = self._cached(spec, stored)
        if found is not None:
            return found, 0.0
        async with self._lock:
            found = self._cached(spec, stored)
            if found is not None:
                return found, 0.0
            begun = time.perf_counter()
            # Loading takes seconds (a local model) or a request (a remote model's dimensions): not on the loop.
            built = await asyncio.to_thread(make_embedder, spec, self._settings, stored=stored)
            embedder = self._by_key.setdefault(built.info.key, built)
            if embedder is not built:
                close_embedder(built)  # the settings named a model already loaded for a collection
            self._by_spec[spec] = embedder
            return embedder, (time.perf_counter() - begun) * 1000

    def _cached(self, spec: EmbedderSpec, stored: ModelInfo | None) -> Embedder | None:
        if stored is not None and stored.key in self._by_key:
            return self._by_key[stored.key]
        return self._by_spec.get(spec)

    def close(self) -> None:
        for embedder in self._by_key.values():
            close_embedder(embedder)
        self._by_key.clear()
        self._by_spec.clear()
