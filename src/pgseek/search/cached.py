"""A search's use of the caches (decision 0023): what its keys are made of, and why a cached result is never stale.

Result keys hold the tenant, the collection's id, every request option, the vector tuning, the query text, and the
two generations (migration 0011) read in one statement under the tenant's scope *before* anything else the search
reads. Every change that can alter a result bumps a generation in its own transaction. So:

- a search that starts after a change committed reads the bumped generation, and only finds results stored under
  it;
- a result stored under generation g was computed from reads made after g was read, so from a state at least as
  new as g: it may already include a change that bumps g (that search overlapped the change, either answer is
  right for it), never miss a change that g includes. A result is never stored under a generation read after it.

A search of a named version (comparisons) and ``SearchOptions.cache = False`` (evaluations) use no cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pgseek import __version__
from pgseek.cache.caches import SearchCaches, Use
from pgseek.cache.codec import EntryError, decode_result, decode_vector, encode_result, encode_vector
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.generations import read_generations
from pgseek.db.search import VectorTuning
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.types import CacheUse, SearchResult, Timings

FORMAT = f"1/{__version__}"
"""In every key: another release (another fusion default, another entry layout) never reads this one's entries."""
Vector = NDArray[np.float32]


@dataclass(slots=True)
class CacheUses:
    """What the caches did for the search in progress."""

    embedding: Use = "off"
    result: Use = "off"


@dataclass(frozen=True, slots=True)
class ResultLookup:
    key: str | None
    """Where to store the result computed now; None: not cached (off, unavailable, no such collection)."""
    result: SearchResult | None = None


def _digest(kind: str, material: list[object]) -> str:
    text = json.dumps([FORMAT, *material], ensure_ascii=False, separators=(",", ":"))
    return f"pgseek:{kind}:{hashlib.sha256(text.encode()).hexdigest()}"


async def look_up_result(
    caches: SearchCaches,
    pool: Pool,
    query: str,
    options: object,
    tenant: str,
    collection: str,
    tuning: VectorTuning,
    uses: CacheUses,
) -> ResultLookup:
    """``options``: the request's SearchOptions, tenant and collection resolved by the caller (their repr is in the
    key, so an option added later is part of it without anyone remembering to add it)."""
    if not caches.results.enabled:
        return ResultLookup(None)
    async with translate_errors("reading the collection's generation"):
        generations = await read_generations(pool, tenant, collection)
    if generations is None:  # no such collection: the search itself says so
        return ResultLookup(None)
    key = _digest(
        "result",
        [
            generations.namespace,
            tenant,
            generations.collection_id,
            generations.collection,
            generations.tenant,
            repr(options),
            repr(tuning),
            query,
        ],
    )
    uses.result, value = await caches.results.get(key)
    if value is None:
        return ResultLookup(key if uses.result == "miss" else None)
    try:
        result = decode_result(value, Timings(embed=0.0, search=0.0, total=0.0))
    except EntryError:
        caches.results.undo_hit()
        uses.result = "miss"
        return ResultLookup(key)
    return ResultLookup(key, result)


async def store_result(caches: SearchCaches, lookup: ResultLookup, result: SearchResult) -> None:
    if lookup.key is None:
        return
    try:
        value = encode_result(result)
    except ValueError:  # a score json cannot hold (NaN): not cached
        return
    await caches.results.put(lookup.key, value)


async def embed_query(
    caches: SearchCaches | None, embedder: TokenizingEmbedder, query: str, uses: CacheUses, *, tenant: str
) -> Vector:
    """The query's vector under ``embedder``'s model: cached by that model's whole identity and the exact text, so a
    vector is only ever reused for the very model that made it; and by tenant, because a hit (its "hit", and its
    speed) would tell one tenant that another searched this very text."""
    if caches is None or not caches.embeddings.enabled:
        uses.embedding = "off"
        return await _embed(embedder, query)
    info = embedder.info
    key = _digest("embedding", [list(info.key), tenant, query])
    uses.embedding, value = await caches.embeddings.get(key)
    if value is not None:
        try:
            return decode_vector(value, info.dimensions)
        except EntryError:
            caches.embeddings.undo_hit()
            uses.embedding = "miss"
    vector = await _embed(embedder, query)
    if uses.embedding == "miss":
        await caches.embeddings.put(key, encode_vector(vector))
    return vector


async def _embed(embedder: TokenizingEmbedder, query: str) -> Vector:
    vector: Vector = (await asyncio.to_thread(embedder.embed, [query], purpose="query"))[0]
    return vector


def served(result: SearchResult, lookup_ms: float, uses: CacheUses) -> SearchResult:
    """A cached result as this request returns it: its own timings, and the caches' part."""
    embedding: Use = "hit" if result.query_vector is not None else "off"
    timings = Timings(embed=0.0, search=lookup_ms, total=lookup_ms)
    return replace(result, timings_ms=timings, cache=CacheUse(embedding=embedding, result=uses.result))
