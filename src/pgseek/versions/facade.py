"""``seek.models``: the embedding-version operations of one ``AsyncSeek`` (or ``Seek``), with the facade's pool,
models and settings (decision 0018)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pgseek.config import Settings
from pgseek.db import versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.search import VectorTuning
from pgseek.embedding import Embedders
from pgseek.errors import InputError, NotFoundError
from pgseek.names import check_name
from pgseek.providers.registry import EmbedderSpec
from pgseek.search import engine
from pgseek.search.engine import Mode, SearchOptions
from pgseek.search.engine import search as run_search
from pgseek.types import ModelInfo, SearchResult
from pgseek.versions import manage
from pgseek.versions.backfill import BackfillOptions, BackfillProgress, BackfillReport, backfill
from pgseek.versions.compare import Comparison, compare, load_dataset
from pgseek.versions.manage import DEFAULT_TOLERANCE, VersionInfo

T = TypeVar("T")
PRECISIONS = ("auto", "float32", "float16")


class AsyncModels:
    """Embedding versions of the facade's collections. ``collection`` defaults to PGSEEK_COLLECTION."""

    def __init__(self, settings: Settings, ready: Callable[[], Awaitable[Pool]], embedders: Embedders) -> None:
        self._settings = settings
        self._ready = ready
        self._embedders = embedders

    def _name(self, collection: str | None) -> str:
        return check_name(collection or self._settings.collection, field="collection", what="collection name")

    async def list(self, collection: str | None = None) -> list[VersionInfo]:
        """Every version of the collection, retired ones included, oldest first."""
        return await manage.list_versions(await self._ready(), self._name(collection))

    async def status(self, collection: str | None = None, version: int | None = None) -> VersionInfo:
        """One version (default: the candidate, else the active one) with its backfill's progress."""
        return await manage.version_info(await self._ready(), self._name(collection), version)

    async def add(
        self,
        collection: str | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        precision: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
    ) -> VersionInfo:
        """Add a candidate version: another model (``provider``, ``model``), storage ``precision`` or chunking;
        what is not given stays as the active version has it. Nothing is embedded yet: ``backfill`` does that."""
        name = self._name(collection)
        pool = await self._ready()
        active = await self._active(pool, name)
        info = await self._identity(active.model, provider, model, precision)
        return await manage.add_version(
            pool,
            name,
            info,
            chunk_tokens=active.chunk_tokens if chunk_tokens is None else chunk_tokens,
            chunk_overlap=active.chunk_overlap if chunk_overlap is None else chunk_overlap,
        )

    async def _active(self, pool: Pool, name: str) -> versions.Version:
        async with translate_errors("reading the collection's versions"), pool.connection() as conn:
            found = [v for v in await versions.collection_versions(conn, name) if v.state == "active"]
        if not found:
            raise NotFoundError(f"collection {name!r} has no embedding version yet: ingest into it first")
        return found[0]

    async def _identity(
        self, active: ModelInfo, provider: str | None, model: str | None, precision: str | None
    ) -> ModelInfo:
        if precision is not None and precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}", field="precision")
        if provider is None and model is None:
            if precision in (None, "auto", active.precision):
                return active
            spec = dataclasses.replace(EmbedderSpec.from_identity(active), precision=precision or "auto")
        else:
            spec = EmbedderSpec(
                provider or self._settings.embed_provider,
                model or self._settings.model,
                precision=precision or self._settings.embed_precision,
            )
        return (await self._embedders.for_spec(spec)).info

    async def backfill(
        self,
        collection: str | None = None,
        version: int | None = None,
        *,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> BackfillReport:
        """Run (or resume) a candidate's backfill to its end, index included."""
        pool = await self._ready()
        chosen = await manage.version_info(pool, self._name(collection), version)
        s = self._settings
        options = BackfillOptions(
            s.hnsw_m, s.hnsw_ef_construction, s.index_build_memory, s.embed_batch_size, s.ivfflat_min_rows
        )
        return await backfill(pool, chosen.id, self._embedders, options, progress)

    async def compare(
        self,
        dataset: str | Path | None = None,
        *,
        collection: str | None = None,
        version: int | None = None,
        mode: Mode = "vector",
        tenant: str | None = None,
        split: str = "test",
        sample: int = 50,
        tolerance: float = DEFAULT_TOLERANCE,
        progress: Callable[[int, int], None] | None = None,
    ) -> Comparison:
        """Compare the candidate (or ``version``) with the active version: on ``dataset`` (a golden set or a BEIR
        folder whose documents are in the collection) and on up to ``sample`` recent searches."""
        if mode not in engine.MODES:
            raise InputError(f"unknown mode {mode!r}: use one of {', '.join(engine.MODES)}", field="mode")
        if isinstance(sample, bool) or not 0 <= sample <= 1000:
            raise InputError(f"sample must be from 0 to 1000, not {sample}", field="sample")
        loaded = load_dataset(dataset, split) if dataset is not None else None
        pool = await self._ready()
        name = self._name(collection)
        s = self._settings
        tuning = VectorTuning(s.ef_search, s.max_scan_tuples, s.exact_search_below, s.ivfflat_probes, s.rerank_factor)
        defaults = engine.Defaults(s.collection, s.tenant, tuning)

        # The engine reads each version's model with the version and switches to it: one embedder to start from.
        embedder, _ = await self._embedders.for_collection(pool, name)

        async def search(text: str, opts: SearchOptions) -> SearchResult:
            return await run_search(pool, embedder, text, opts, defaults, self._embedders)

        return await compare(
            pool,
            name,
            search,
            dataset=loaded,
            mode=mode,
            tenant=check_name(tenant or s.tenant, field="tenant", what="tenant"),
            sample=sample,
            tolerance=tolerance,
            candidate_id=version,
            progress=progress,
        )

    async def activate(
        self,
        collection: str | None = None,
        version: int | None = None,
        *,
        force: bool = False,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> VersionInfo:
        """Make the candidate the active version (one transaction); see ``manage.activate`` for what refuses it."""
        return await manage.activate(
            await self._ready(), self._name(collection), version, force=force, tolerance=tolerance
        )

    async def rollback(self, collection: str | None = None) -> VersionInfo:
        """Make the previous version active again (one transaction)."""
        return await manage.rollback(await self._ready(), self._name(collection))

    async def retire(self, collection: str | None = None, version: int | None = None) -> VersionInfo:
        """Retire the previous version (or a candidate): its table is dropped and its chunks deleted."""
        return await manage.retire(await self._ready(), self._name(collection), version)


class Models:
    """``AsyncModels`` for synchronous callers: each method runs its twin on the ``Seek``'s event loop."""

    def __init__(self, core: AsyncModels, run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._core = core
        self._run = run

    def list(self, collection: str | None = None) -> list[VersionInfo]:
        found: list[VersionInfo] = self._run(self._core.list(collection))
        return found

    def status(self, collection: str | None = None, version: int | None = None) -> VersionInfo:
        found: VersionInfo = self._run(self._core.status(collection, version))
        return found

    def add(
        self,
        collection: str | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        precision: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
    ) -> VersionInfo:
        added: VersionInfo = self._run(
            self._core.add(
                collection,
                provider=provider,
                model=model,
                precision=precision,
                chunk_tokens=chunk_tokens,
                chunk_overlap=chunk_overlap,
            )
        )
        return added

    def backfill(
        self,
        collection: str | None = None,
        version: int | None = None,
        *,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> BackfillReport:
        report: BackfillReport = self._run(self._core.backfill(collection, version, progress=progress))
        return report

    def compare(
        self,
        dataset: str | Path | None = None,
        *,
        collection: str | None = None,
        version: int | None = None,
        mode: Mode = "vector",
        tenant: str | None = None,
        split: str = "test",
        sample: int = 50,
        tolerance: float = DEFAULT_TOLERANCE,
        progress: Callable[[int, int], None] | None = None,
    ) -> Comparison:
        result: Comparison = self._run(
            self._core.compare(
                dataset,
                collection=collection,
                version=version,
                mode=mode,
                tenant=tenant,
                split=split,
                sample=sample,
                tolerance=tolerance,
                progress=progress,
            )
        )
        return result

    def activate(
        self,
        collection: str | None = None,
        version: int | None = None,
        *,
        force: bool = False,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> VersionInfo:
        found: VersionInfo = self._run(self._core.activate(collection, version, force=force, tolerance=tolerance))
        return found

    def rollback(self, collection: str | None = None) -> VersionInfo:
        found: VersionInfo = self._run(self._core.rollback(collection))
        return found

    def retire(self, collection: str | None = None, version: int | None = None) -> VersionInfo:
        found: VersionInfo = self._run(self._core.retire(collection, version))
        return found
