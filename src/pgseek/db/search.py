"""The two legs of a search, each one statement under the tenant's row-level security: the k nearest chunks by
vector distance (exact or an iterative HNSW scan, chosen per query) and Okapi BM25 over the chunks' tsvectors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pgvector import HalfVector
from psycopg import sql
from psycopg.rows import class_row, dict_row

from pgseek.db import indexes, queries
from pgseek.db.catalog import Collection
from pgseek.db.scope import TenantConn

_OPERATORS = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk with its document, mapped by column name; ``value`` is the leg's own measure (vector: distance,
    keyword: BM25 score)."""

    chunk_id: int
    external_id: str
    title: str | None
    source: str | None
    text: str
    position: int
    metadata: dict[str, Any]
    heading_path: Sequence[str]
    start: int
    end: int
    page: int | None
    page_end: int | None
    value: float


Where = tuple[sql.Composable, dict[str, Any]]
NO_FILTER: Where = (sql.SQL("TRUE"), {})


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """How a vector search runs: "iterative" (HNSW, walking on until k rows pass the filter), "ivfflat" (probing
    lists, more until k rows pass) or "exact". A tenant's partial HNSW index (decision 0028) serves its "iterative"
    searches: the planner picks it, as the smaller index whose predicate the query's tenant condition implies.

    ``estimated_rows``: the tenant's chunks in the collection (no filter), or its chunks passing the filter counted up
    to ``exact_below + 1`` (a count past ``exact_below`` means "more than that").
    """

    kind: str
    estimated_rows: int


@dataclass(frozen=True, slots=True)
class VectorTuning:
    ef_search: int
    max_scan_tuples: int
    exact_below: int
    """Scan exactly when at most this many of the tenant's rows match."""
    ivfflat_probes: int = 0
    """IVFFlat lists probed per query; 0: sqrt(lists)."""
    rerank_factor: int = 8
    """A quantized index hands out this many candidates per hit wanted, re-ranked at full precision."""


async def vector_search(
    scope: TenantConn,
    table: str,
    collection: Collection,
    query: NDArray[np.float32],
    *,
    k: int,
    tuning: VectorTuning,
    where: Where = NO_FILTER,
) -> tuple[list[ChunkRow], VectorPlan]:
    """k nearest chunks (value: distance) under tenant, collection and filter, with the plan that found them.

    Every setting is SET LOCAL: it ends with the scope's transaction, which keeps pooled connections clean. In a
    transaction shared with the keyword leg (hybrid search), run this leg last: its settings stay to the end.
    """
    fragment, params = where
    names = {"table": sql.Identifier(table), "filter": fragment}
    # A halfvec column is compared with a halfvec query: the same operator class, so its HNSW index serves the search.
    typed = HalfVector(query) if collection.precision == "float16" else query
    values = {
        **params,
        "query": typed,
        "tenant": scope.tenant,
        "collection": collection.id,
        "version": collection.version_id,
        "k": k,
    }
    plan = await _choose_plan(scope, names, values, tuning, filtered=bool(params))
    spec = collection.index
    if plan.kind == "iterative" and spec.kind == "ivfflat":
        lists = (await indexes.search_indexes(scope, table)).ivfflat_lists
        # Until the table holds enough rows for its lists to be clustered, there is no IVFFlat index: exact.
        plan = VectorPlan("exact" if lists is None else "ivfflat", plan.estimated_rows)
        if lists is not None:
            probes = indexes.ivfflat_probes(lists, tuning.ivfflat_probes)
            await scope.conn.execute(queries.ivfflat_scan(probes, lists))
    candidates = max(k * tuning.rerank_factor, k)
    if plan.kind == "exact":
        await scope.conn.execute(queries.SET_LOCAL_EXACT_SCAN)
    elif plan.kind == "iterative":
        wanted = candidates if spec.quantization != "none" else k
        await scope.conn.execute(queries.iterative_scan(max(tuning.ef_search, wanted), tuning.max_scan_tuples))
    operator = sql.SQL(_OPERATORS[collection.distance])
    if plan.kind == "iterative" and spec.quantization != "none":
        statement = queries.VECTOR_SEARCH_RERANK.format(
            operator=operator,
            plan=sql.SQL(plan.kind),
            key=spec.key(),
            qoperator=sql.SQL(spec.operator()),
            qquery=spec.query_key(),
            **names,
        )
        values["candidates"] = candidates
    else:
        order = queries.vector_order(operator, exact=plan.kind == "exact")
        statement = queries.VECTOR_SEARCH.format(operator=operator, plan=sql.SQL(plan.kind), order=order, **names)
    return await _chunk_rows(scope, statement, values), plan


async def _choose_plan(
    scope: TenantConn, names: dict[str, sql.Composable], values: dict[str, Any], tuning: VectorTuning, *, filtered: bool
) -> VectorPlan:
    """Count the tenant's matching rows, under its scope: few enough, and exact is cheaper.

    Only the tenant's own rows may decide the plan and the reported count (decision 0007): the planner's estimate
    comes from statistics over every tenant's rows, so it would tell one tenant about another's volume.
    """
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        if not filtered:
            await cur.execute(queries.TENANT_CHUNK_COUNT, values)
        else:
            await cur.execute(queries.COUNT_MATCHES_UP_TO.format(**names), {**values, "bound": tuning.exact_below + 1})
        row = await cur.fetchone()
    count = int(row["count"]) if row else 0
    return VectorPlan("exact" if count <= tuning.exact_below else "iterative", count)


@dataclass(frozen=True, slots=True)
class TermFrequency:
    """A query lexeme and the number of the tenant's chunks in the collection's version holding it."""

    lexeme: str
    df: int


@dataclass(frozen=True, slots=True)
class KeywordTerms:
    """What the bounded keyword leg knows before it reads a chunk: the query's lexemes that some chunk holds, rarest
    first, and the version's chunk count (BM25's N)."""

    terms: tuple[TermFrequency, ...]
    chunk_count: float


def _keyword_values(scope: TenantConn, collection: Collection, text: str, k: int, where: Where) -> dict[str, Any]:
    return {
        **where[1],
        "operators": uses_search_operators(text),
        "config": collection.text_search_config,
        "text": text,
        "tenant": scope.tenant,
        "collection": collection.id,
        "version": collection.version_id,
        "k": k,
    }


async def full_keyword_search(
    scope: TenantConn, collection: Collection, text: str, *, k: int, where: Where = NO_FILTER
) -> list[ChunkRow]:
    """Chunks matching ``text`` as a web-style query (quotes, OR, -word), by Okapi BM25 (value: score), every chunk
    holding a query word scored: the reference that search.keyword's bounded leg equals."""
    values = _keyword_values(scope, collection, text, k, where)
    return await _chunk_rows(scope, queries.KEYWORD_SEARCH.format(filter=where[0]), values)


async def keyword_terms(scope: TenantConn, collection: Collection, text: str) -> KeywordTerms:
    """The query's lexemes held by the tenant's chunks of the version, rarest first, from term_stats."""
    values = _keyword_values(scope, collection, text, 0, NO_FILTER)
    async with scope.conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.KEYWORD_TERMS, values)
        rows = await cur.fetchall()
    terms = tuple(TermFrequency(str(r["lexeme"]), int(r["df"])) for r in rows)
    return KeywordTerms(terms, float(rows[0]["n"]) if rows else 0.0)


async def keyword_pass(
    scope: TenantConn,
    collection: Collection,
    text: str,
    terms: Sequence[TermFrequency],
    *,
    essential: Sequence[str],
    scored: Sequence[str],
    k: int,
    where: Where = NO_FILTER,
) -> list[ChunkRow]:
    """The k best chunks (value: BM25 score over all ``terms``) among those holding an ``essential`` lexeme and no
    ``scored`` one, passing the filter (and the operators, if ``text`` uses them)."""
    values = {
        **_keyword_values(scope, collection, text, k, where),
        "lexemes": [t.lexeme for t in terms],
        "dfs": [t.df for t in terms],
    }
    seen = sql.Literal(any_of(scored)) if scored else sql.SQL("NULL")
    statement = queries.KEYWORD_SEARCH_BOUNDED.format(
        filter=where[0], essential=sql.Literal(any_of(essential)), scored=seen
    )
    return await _chunk_rows(scope, statement, values)


def any_of(lexemes: Sequence[str]) -> str:
    """A tsquery matching any of ``lexemes``, as text: each one quoted (a quote doubled, a backslash escaped), so that
    no lexeme reads as an operator."""
    return " | ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)


async def words_in_collection(scope: TenantConn, collection: Collection, stems: Mapping[str, str]) -> set[str]:
    """Those of the words (``stems``: word -> its lower-case stem) that some chunk of the tenant's collection holds:
    the word's lexeme in its tsv and its stem in its text."""
    values = {
        "words": list(stems),
        "stems": list(stems.values()),
        "tenant": scope.tenant,
        "collection": collection.id,
        "version": collection.version_id,
    }
    async with scope.conn.cursor() as cur:
        await cur.execute(queries.WORDS_IN_COLLECTION, {**values, "config": collection.text_search_config})
        return {str(row[0]) for row in await cur.fetchall()}


_OPERATORS_RE = re.compile(r'"|(^|\s)-\w|\s+or\s+', re.IGNORECASE)


def uses_search_operators(text: str) -> bool:
    """True when a keyword query uses web-search syntax: a quoted phrase, ``or``, or ``-word``."""
    return _OPERATORS_RE.search(text) is not None


async def _chunk_rows(scope: TenantConn, statement: sql.Composed, values: dict[str, Any]) -> list[ChunkRow]:
    async with scope.conn.cursor(row_factory=class_row(ChunkRow)) as cur:
        await cur.execute(statement, values)
        return await cur.fetchall()


def score(distance: str, value: float) -> float:
    """Turn a distance into a score where higher is better.

    cosine: 1 - distance (similarity in [-1, 1]); ip: pgvector's <#> is the negated inner product, so negate it back;
    l2: the negated Euclidean distance (0 is identical).
    """
    if distance == "cosine":
        return 1.0 - value
    return -value
