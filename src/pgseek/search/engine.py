"""One search request: embed the query, run the vector and/or keyword leg under the filter, fuse, time each stage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, Protocol, get_args

import numpy as np
from numpy.typing import NDArray

from pgseek.cache.caches import SearchCaches
from pgseek.db import catalog, versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.filters import compile_filter
from pgseek.db.scope import tenant_transaction
from pgseek.db.search import (
    NO_FILTER,
    ChunkRow,
    VectorPlan,
    VectorTuning,
    Where,
    score,
    vector_search,
    words_in_collection,
)
from pgseek.errors import DatabaseError, QueryError
from pgseek.filters import SearchFilter
from pgseek.names import check_name, text_problem
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.search.cached import CacheUses, embed_query, look_up_result, served, store_result
from pgseek.search.hybrid import DEFAULT_FUSION, Fusion, FusionError
from pgseek.search.keyword import keyword_search
from pgseek.terms import stem
from pgseek.types import CacheUse, Hit, LegRank, ModelInfo, QueryVector, SearchResult, Timings

logger = logging.getLogger("pgseek.search")
Mode = Literal["vector", "keyword", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)
MAX_K = 1000
_log = logging.getLogger(__name__)
Leg = list[tuple[ChunkRow, float]]
"""A leg's rows, best first, each with its score."""
Legs = dict[str, Leg]
Vector = NDArray[np.float32]
QueryEmbed = Callable[[TokenizingEmbedder], Awaitable[Vector]]
"""Embeds the search's query with a model, through the embedding cache."""


@dataclass(frozen=True, slots=True)
class SearchOptions:
    k: int = 10
    collection: str | None = None
    tenant: str | None = None
    min_score: float | None = None
    """Drop hits scoring below this (the mode's own score: similarity, BM25 or the fused RRF score)."""
    mode: Mode = "vector"
    filter: SearchFilter | None = None
    fusion: str | None = None
    """Hybrid fusion: "rrf", "minmax" or "zscore" (search/hybrid.py). When this and the three below are all None,
    the collection's tuned setting applies (``pgseek tune``), else the default; naming any of them sets the fusion
    for this search alone, the default filling in the rest (RRF, k = 60, weights 1)."""
    rrf_k: int | None = None
    vector_weight: float | None = None
    keyword_weight: float | None = None
    candidates: int | None = None
    """Hits each leg contributes to hybrid fusion (default: max(4k, 40))."""
    version: int | None = None
    """Search this embedding version of the collection instead of its active one (comparisons do)."""
    cache: bool = True
    """Use the caches (docs/caching.md); False: neither read nor fill them (evaluations time the search itself)."""

    def merged(self, overrides: dict[str, Any]) -> SearchOptions:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise QueryError(f"unknown search option(s) {sorted(unknown)}; known: {sorted(known)}", field="options")
        return SearchOptions(**{**{name: getattr(self, name) for name in known}, **overrides})


@dataclass(frozen=True, slots=True)
class Defaults:
    collection: str
    tenant: str
    tuning: VectorTuning
    remember_days: int = 0
    """Record each search's query for version comparisons, kept this many days (0: not recorded)."""


def validate(query: str, opts: SearchOptions, embedder: TokenizingEmbedder) -> None:
    if not query or not query.strip():
        raise QueryError("the query is empty: give the words to search for", field="query")
    problem = text_problem(query)  # a NUL, or a lone surrogate (bytes that were not UTF-8 in a shell argument)
    if problem is not None:
        raise QueryError(f"the query {problem}", field="query")
    for name, field in ((opts.collection, "collection"), (opts.tenant, "tenant")):
        if name is not None:
            check_name(name, field=field, what=field)
    if opts.mode not in MODES:
        raise QueryError(f"unknown mode {opts.mode!r}: use one of {', '.join(MODES)}", field="mode")
    if not 1 <= opts.k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, got {opts.k}", field="k")
    if opts.min_score is not None and not math.isfinite(opts.min_score):
        raise QueryError(f"min_score must be a finite number, not {opts.min_score}", field="min_score")
    if opts.candidates is not None and not opts.k <= opts.candidates <= MAX_K:
        raise QueryError(f"candidates must be between k and {MAX_K}, got {opts.candidates}", field="candidates")
    requested_fusion(opts)
    if opts.mode != "keyword":
        tokens = len(embedder.counter.token_spans(query))
        if tokens > embedder.max_tokens:
            raise QueryError(
                f"the query is {tokens} word pieces long; the model reads at most {embedder.max_tokens}: shorten it",
                field="query",
            )


class ModelSource(Protocol):
    async def for_model(self, info: ModelInfo) -> TokenizingEmbedder: ...


def hybrid_depth(k: int, candidates: int | None = None) -> int:
    """Hits each leg contributes to a hybrid search for ``k`` hits."""
    return candidates or max(4 * k, 40)


async def search(
    pool: Pool,
    embedder: TokenizingEmbedder,
    query: str,
    opts: SearchOptions,
    defaults: Defaults,
    models: ModelSource | None = None,
    caches: SearchCaches | None = None,
    *,
    primary: Pool | None = None,
) -> SearchResult:
    """``embedder``: the model of the version the caller expects; when the collection's version searched has another
    (an activation in between), ``models`` gives that one, so that a query is never embedded by the wrong model.
    ``caches``: query embeddings and results (search/cached.py says why a cached result is never stale).
    ``primary``: where the query is recorded when ``pool`` is a read-only replica's (decision 0029)."""
    validate(query, opts, embedder)
    started = time.perf_counter()
    where = compile_filter(opts.filter) if opts.filter is not None else NO_FILTER
    depth = opts.k if opts.mode != "hybrid" else hybrid_depth(opts.k, opts.candidates)
    tenant = opts.tenant or defaults.tenant
    caches = caches if opts.cache and opts.version is None else None
    uses = CacheUses()
    lookup = None
    if caches is not None:
        name = opts.collection or defaults.collection
        keyed = replace(opts, tenant=tenant, collection=name)
        lookup = await look_up_result(caches, pool, query, keyed, tenant, name, defaults.tuning, uses)
        if lookup.result is not None:  # recent_queries already holds it: the miss that cached it recorded it
            return served(lookup.result, (time.perf_counter() - started) * 1000, uses)

    async def embed(model: TokenizingEmbedder) -> Vector:
        return await embed_query(caches, model, query, uses, tenant=tenant)

    legs: Legs
    plan: VectorPlan | None
    vector: Vector | None
    suspect = "filters" if opts.filter is not None and not opts.filter.is_empty() else "query"
    # A value the database cannot use (out of range, unreadable as its type) came from the caller: a 422 naming it.
    async with translate_errors("searching", field=suspect):
        async with pool.connection() as conn:
            collection = await catalog.get_collection(
                conn, opts.collection or defaults.collection, version=opts.version
            )
            table = collection.table
            fusion = requested_fusion(opts)
            if opts.mode == "hybrid" and fusion is None:
                fusion = _stored_fusion(collection.fusion)
        stored = collection.model
        if stored is not None and stored.key != embedder.info.key:
            if models is None:
                raise QueryError(
                    f"collection {collection.name!r} is searched with {stored.name}, not {embedder.info.name}",
                    field="collection",
                )
            embedder = await models.for_model(stored)
        if opts.mode == "hybrid" and table is not None:
            vector_leg, keyword_leg, plan, embedded, vector = await _hybrid_legs(
                pool, embedder, embed, query, collection, table, tenant, depth, where, defaults.tuning
            )
            legs = {"vector": vector_leg, "keyword": keyword_leg}
        else:
            legs, plan, embedded, vector = await _separate_legs(
                pool, embedder, embed, query, opts.mode, collection, table, tenant, depth, where, defaults.tuning
            )
    searched = time.perf_counter()
    fewer = all(len(leg) < depth for leg in legs.values())
    hits = (
        _fuse(legs, fusion or DEFAULT_FUSION, opts.k)
        if opts.mode == "hybrid"
        else _single(legs.get(opts.mode, []), opts.mode)
    )
    if opts.min_score is not None:
        hits = [h for h in hits if h.score >= opts.min_score]
    done = time.perf_counter()
    if defaults.remember_days and opts.version is None:
        await _remember(primary or pool, tenant, collection.id, query, opts.mode, defaults.remember_days)
    timings = Timings(
        embed=(embedded - started) * 1000,
        search=(searched - embedded) * 1000,
        fuse=(done - searched) * 1000,
        total=(done - started) * 1000,
    )
    result = SearchResult(
        tuple(hits),
        timings,
        opts.mode,
        plan=plan.kind if plan else None,
        estimated_rows=plan.estimated_rows if plan else None,
        fewer_than_k=fewer,
        distance=collection.distance,
        query_vector=None if vector is None else QueryVector(embedder.info.key, vector),
        cache=CacheUse(embedding=uses.embedding if vector is not None else "off", result=uses.result),
    )
    if caches is not None and lookup is not None:
        await store_result(caches, lookup, result)
    return result


async def _remember(pool: Pool, tenant: str, collection_id: int, query: str, mode: str, days: int) -> None:
    """Record the query for comparisons of embedding versions; a failure costs the record, never the search."""
    try:
        async with translate_errors("recording a query"), pool.connection() as conn:
            await versions.record_query(conn, tenant, collection_id, query, mode, days=days)
    except DatabaseError as exc:
        logger.warning("could not record a query for version comparisons: %s", exc)


async def collection_words(pool: Pool, collection: str, tenant: str, words: Sequence[str]) -> set[str]:
    """Those of ``words`` that the tenant's collection holds somewhere (as its keyword leg reads words)."""
    async with translate_errors("reading the collection's words"):
        async with pool.connection() as conn:
            found = await catalog.get_collection(conn, collection)
        async with tenant_transaction(pool, tenant) as scope:
            return await words_in_collection(scope, found, {word: stem(word.lower()) for word in words})


async def _separate_legs(
    pool: Pool,
    embedder: TokenizingEmbedder,
    embed: QueryEmbed,
    query: str,
    mode: Mode,
    collection: catalog.Collection,
    table: str | None,
    tenant: str,
    depth: int,
    where: Where,
    tuning: VectorTuning,
) -> tuple[Legs, VectorPlan | None, float, Vector | None]:
    """Vector or keyword mode (or hybrid before any vector exists): each leg on its own connection; the keyword leg
    needs no vector, so it runs while the query is embedded. Returns the legs, the plan, when embedding ended and the
    query's vector (None in keyword mode)."""
    legs: Legs = {}
    plan: VectorPlan | None = None
    vector: Vector | None = None
    keyword = (
        asyncio.create_task(_keyword_leg(pool, collection, tenant, query, depth, where)) if mode != "vector" else None
    )
    try:
        if mode != "keyword":
            vector = await embed(embedder)
        embedded = time.perf_counter()
        if vector is not None and table is not None:
            async with tenant_transaction(pool, tenant) as scope:
                rows, plan = await vector_search(scope, table, collection, vector, k=depth, tuning=tuning, where=where)
            legs["vector"] = [(row, score(collection.distance, row.value)) for row in rows]
        if keyword is not None:
            legs["keyword"] = await keyword
    finally:
        if keyword is not None and not keyword.done():
            keyword.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keyword
    return legs, plan, embedded, vector


async def _hybrid_legs(
    pool: Pool,
    embedder: TokenizingEmbedder,
    embed: QueryEmbed,
    query: str,
    collection: catalog.Collection,
    table: str,
    tenant: str,
    depth: int,
    where: Where,
    tuning: VectorTuning,
) -> tuple[Leg, Leg, VectorPlan, float, Vector]:
    """Both legs on one connection, in one read-only snapshot (decision 0008): a document being replaced is seen in
    one version by both, never old in one leg and new in the other. The keyword leg still runs while the query is
    embedded; the vector leg follows it on the same connection."""
    async with tenant_transaction(pool, tenant, snapshot=True) as scope:
        keyword = asyncio.create_task(keyword_search(scope, collection, query, k=depth, where=where))
        try:
            vector = await embed(embedder)
            embedded = time.perf_counter()
            keyword_rows = await keyword
        finally:
            if not keyword.done():  # embedding failed: let the query end (the connection is in use) and drop it
                await asyncio.wait([keyword])
                with contextlib.suppress(Exception):
                    keyword.result()
        rows, plan = await vector_search(scope, table, collection, vector, k=depth, tuning=tuning, where=where)
    vector_leg = [(row, score(collection.distance, row.value)) for row in rows]
    return vector_leg, [(row, row.value) for row in keyword_rows], plan, embedded, vector


async def _keyword_leg(
    pool: Pool, collection: catalog.Collection, tenant: str, query: str, depth: int, where: Where
) -> list[tuple[ChunkRow, float]]:
    # One snapshot: the bounded leg reads document frequencies, then the chunks they describe (search/keyword.py).
    async with tenant_transaction(pool, tenant, snapshot=True) as scope:
        rows = await keyword_search(scope, collection, query, k=depth, where=where)
    return [(row, row.value) for row in rows]


def _single(leg: list[tuple[ChunkRow, float]], name: str) -> list[Hit]:
    return [_hit(row, score, {name: LegRank(rank, score)}) for rank, (row, score) in enumerate(leg, 1)]


def requested_fusion(opts: SearchOptions) -> Fusion | None:
    """The fusion the request names, or None when it names none (the collection's setting then applies)."""
    named = (opts.fusion, opts.rrf_k, opts.vector_weight, opts.keyword_weight)
    if all(value is None for value in named):
        return None
    default = DEFAULT_FUSION
    try:
        return Fusion(
            method=opts.fusion or default.method,  # type: ignore[arg-type]  # checked by Fusion itself
            rrf_k=default.rrf_k if opts.rrf_k is None else opts.rrf_k,
            vector_weight=default.vector_weight if opts.vector_weight is None else opts.vector_weight,
            keyword_weight=default.keyword_weight if opts.keyword_weight is None else opts.keyword_weight,
        )
    except FusionError as exc:
        raise QueryError(str(exc), field=exc.field) from None


def _stored_fusion(stored: dict[str, Any] | None) -> Fusion:
    if stored is None:
        return DEFAULT_FUSION
    try:
        return Fusion.from_json(stored)
    except (FusionError, TypeError) as exc:  # edited by hand into something unusable: search on, as if never tuned
        _log.warning("ignoring the collection's stored fusion setting (%s); using the default", exc)
        return DEFAULT_FUSION


def _fuse(legs: dict[str, list[tuple[ChunkRow, float]]], fusion: Fusion, k: int) -> list[Hit]:
    rows = {row.chunk_id: row for leg in legs.values() for row, _ in leg}
    fused = fusion.fuse({name: [(row.chunk_id, score) for row, score in leg] for name, leg in legs.items()}, limit=k)
    return [_hit(rows[f.key], f.score, f.legs) for f in fused]


def _hit(row: ChunkRow, score: float, legs: dict[str, LegRank] | Any) -> Hit:
    return Hit(
        document_id=row.external_id,
        title=row.title,
        source=row.source,
        chunk=row.text,
        position=row.position,
        score=score,
        metadata=row.metadata,
        chunk_id=row.chunk_id,
        heading_path=tuple(row.heading_path),
        start=row.start,
        end=row.end,
        legs=dict(legs),
        page=row.page,
        page_end=row.page_end,
    )
