"""The bounded keyword leg (search/keyword.py) against the full scan and the Python oracle, and term_stats against a
recount of the chunks after every kind of write."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.db import catalog
from pgseek.db import search as db_search
from pgseek.db.scope import TenantConn, enter_tenant
from pgseek.filters import SearchFilter
from pgseek.search import keyword
from tests.bm25_oracle import reference_scores

T = TypeVar("T")
COLLECTION = "bounded"
# Words that stem to themselves, most frequent first in tenant "default"; tenant "other" uses them the other way
# round, so a word rare in one tenant is common in the other.
WORDS = [
    "valve",
    "pump",
    "seal",
    "gasket",
    "turbine",
    "boiler",
    "piston",
    "rotor",
    "bearing",
    "nozzle",
    "filter",
    "gauge",
    "pipe",
    "flange",
    "impeller",
    "crankshaft",
    "manifold",
    "sensor",
    "actuator",
    "compressor",
    "condenser",
    "radiator",
    "thermostat",
    "solenoid",
    "camshaft",
    "alternator",
    "gearbox",
    "clutch",
    "spindle",
    "sprocket",
]
QUERIES = (
    "valve",
    "sprocket",
    "sprocket valve",
    "camshaft pump seal",
    "spindle clutch valve pump",
    "impeller valve pump seal gasket",
    "manifold sensor actuator",
    "valve pump seal gasket turbine",
    "sprocket spindle clutch gearbox alternator camshaft solenoid",
    "the sprocket of the valve",
)
OPERATOR_QUERIES = ('"valve pump" -gasket', "turbine or sprocket", "-valve pump seal", '"seal pump"')


def _texts(weights: list[float], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, weights, k=rng.randint(4, 30))) + "." for _ in range(count)]


def _documents(prefix: str, weights: list[float], count: int, seed: int) -> list[Document]:
    texts = _texts(weights, count, seed)
    return [Document(f"{prefix}-{i:03d}", t, title=None, metadata={"group": i % 3}) for i, t in enumerate(texts)]


ZIPF = [1 / (rank + 1) for rank in range(len(WORDS))]


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any) -> Iterator[Seek]:
    with Seek(settings, embedder=local_embedder) as s:
        s.ingest_documents(_documents("d", ZIPF, 90, seed=7), collection=COLLECTION)
        s.ingest_documents(_documents("o", ZIPF[::-1], 60, seed=8), collection=COLLECTION, tenant="other")
        yield s


def _in_scope(database_url: str, tenant: str, work: Callable[[TenantConn, catalog.Collection], Awaitable[T]]) -> T:
    async def run() -> T:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            collection = await catalog.get_collection(conn, COLLECTION)
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return await work(await enter_tenant(conn, tenant), collection)

    return asyncio.run(run())


def _both(
    database_url: str,
    query: str,
    k: int,
    *,
    tenant: str = "default",
    budget: int = 1,
    where: db_search.Where = db_search.NO_FILTER,
) -> tuple[list[db_search.ChunkRow], list[db_search.ChunkRow]]:
    async def work(scope: TenantConn, collection: catalog.Collection) -> tuple[Any, Any]:
        bounded = await keyword.keyword_search(scope, collection, query, k=k, where=where, budget=budget)
        full = await db_search.full_keyword_search(scope, collection, query, k=k, where=where)
        return bounded, full

    return _in_scope(database_url, tenant, work)


def _same(bounded: list[db_search.ChunkRow], full: list[db_search.ChunkRow]) -> None:
    assert [r.chunk_id for r in bounded] == [r.chunk_id for r in full]
    assert [r.value for r in bounded] == pytest.approx([r.value for r in full], rel=1e-12)


@pytest.mark.parametrize("tenant", ["default", "other"])
@pytest.mark.parametrize("query", QUERIES)
def test_the_bounded_leg_returns_the_oracles_top_k(seek: Seek, database_url: str, query: str, tenant: str) -> None:
    expected = reference_scores(database_url, COLLECTION, query, tenant)
    for k in (1, 5, 40):
        hits = seek.search(query, mode="keyword", k=k, collection=COLLECTION, tenant=tenant).hits
        best = sorted(expected.values(), reverse=True)[:k]
        # Exact up to ties: the scores are the k best, and each hit's is its own.
        assert [h.score for h in hits] == pytest.approx(best, rel=1e-9)
        assert all(h.score == pytest.approx(expected[h.document_id], rel=1e-9) for h in hits)
        for budget in (1, 10, 10_000):
            _same(*_both(database_url, query, k, tenant=tenant, budget=budget))


def test_the_corpus_exercises_pruning_and_widening(seek: Seek, database_url: str) -> None:
    """The equality above would hold trivially if every query scored every chunk: show the passes differ."""

    async def work(scope: TenantConn, collection: catalog.Collection) -> list[tuple[int, int, int]]:
        shapes = []
        for query in QUERIES:
            found = await db_search.keyword_terms(scope, collection, query)
            lexemes = [t.lexeme for t in found.terms]
            rows = await db_search.keyword_pass(
                scope, collection, query, found.terms, essential=lexemes[:1], scored=[], k=5
            )
            theta = rows[4].value if len(rows) >= 5 else None
            shapes.append((len(found.terms), 1, keyword.essential_for(found.terms, found.chunk_count, theta, 1)))
        return shapes

    shapes = _in_scope(database_url, "default", work)
    assert any(1 == widened < terms for terms, _, widened in shapes), "no query stopped after its rarest word"
    assert any(1 < widened < terms for terms, _, widened in shapes), "no query widened by part of its words"
    assert any(1 < widened == terms for terms, _, widened in shapes), "no query needed all its words"


@pytest.mark.parametrize(
    "where",
    [
        SearchFilter(contains={"group": 1}),
        SearchFilter(document_ids=("d-003", "d-017", "d-040", "d-041", "d-088")),
    ],
    ids=["metadata", "few-documents"],
)
def test_filters_select_among_the_bounded_leg_results(seek: Seek, database_url: str, where: SearchFilter) -> None:
    from pgseek.db.filters import compile_filter

    passing = {d for (d,) in _rows(database_url, "SELECT external_id FROM documents WHERE tenant_id = 'default'")}
    if where.contains is not None:
        passing = {d for d in passing if int(d.split("-")[1]) % 3 == 1}
    else:
        passing &= set(where.document_ids)
    for query in QUERIES:
        expected = {d: s for d, s in reference_scores(database_url, COLLECTION, query).items() if d in passing}
        hits = seek.search(query, mode="keyword", k=5, collection=COLLECTION, filter=where).hits
        assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True)[:5], rel=1e-9)
        assert {h.document_id for h in hits} <= passing
        _same(*_both(database_url, query, 5, where=compile_filter(where)))


@pytest.mark.parametrize("query", OPERATOR_QUERIES)
def test_search_operators_match_the_full_scan(seek: Seek, database_url: str, query: str) -> None:
    for k in (1, 5, 40):
        bounded, full = _both(database_url, query, k)
        _same(bounded, full)
    assert full, "an operator query the corpus cannot match tests nothing"


def test_one_tenants_words_do_not_weigh_in_anothers_scores(seek: Seek, database_url: str) -> None:
    # "sprocket" is the rarest word of tenant default and the commonest of tenant other.
    counts = dict(
        _rows(
            database_url,
            "SELECT tenant_id, df FROM term_stats WHERE lexeme = 'sprocket' ORDER BY tenant_id",
        )
    )
    assert counts["default"] < counts["other"]
    found = _in_scope(database_url, "default", lambda s, c: db_search.keyword_terms(s, c, "sprocket"))
    assert [t.df for t in found.terms] == [counts["default"]]
    tenants = _in_scope(
        database_url, "default", lambda s, c: _scalar_rows(s, "SELECT DISTINCT tenant_id FROM term_stats")
    )
    assert tenants == [("default",)]  # row-level security: pgseek_app sees its tenant's frequencies only
    expected = reference_scores(database_url, COLLECTION, "sprocket valve", "default")
    hits = seek.search("sprocket valve", mode="keyword", k=10, collection=COLLECTION).hits
    assert {h.document_id: h.score for h in hits} == pytest.approx(
        {d: expected[d] for d in sorted(expected, key=lambda d: -expected[d])[:10]}, rel=1e-9
    )


RECOUNT = """
(SELECT tenant_id, collection_id, version_id, lexeme, count(*) FROM chunks, unnest(tsvector_to_array(tsv)) AS lexeme
 GROUP BY 1, 2, 3, 4
 EXCEPT SELECT tenant_id, collection_id, version_id, lexeme, df FROM term_stats)
UNION ALL
(SELECT tenant_id, collection_id, version_id, lexeme, df FROM term_stats
 EXCEPT SELECT tenant_id, collection_id, version_id, lexeme, count(*)
 FROM chunks, unnest(tsvector_to_array(tsv)) AS lexeme GROUP BY 1, 2, 3, 4)"""


def _rows(database_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


async def _scalar_rows(scope: TenantConn, query: str) -> list[tuple[Any, ...]]:
    cur = await scope.conn.execute(query)
    return await cur.fetchall()


def _assert_exact(database_url: str) -> None:
    assert _rows(database_url, RECOUNT) == []
    assert _rows(database_url, "SELECT count(*) FROM term_stats")[0][0] > 0


def test_term_stats_stay_exact_through_every_kind_of_write(seek: Seek, database_url: str) -> None:
    _assert_exact(database_url)
    seek.ingest_documents([Document("w-1", "A sprocket and a brand new flywheel.")], collection=COLLECTION)
    _assert_exact(database_url)
    seek.ingest_documents([Document("w-1", "Only the flywheel, twice: flywheel.")], collection=COLLECTION)
    _assert_exact(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE chunks SET text = text || ' governor' WHERE tenant_id = 'other' AND position = 0")
    _assert_exact(database_url)
    assert _rows(database_url, "SELECT df FROM term_stats WHERE lexeme = 'governor'") == [(60,)]
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM documents WHERE external_id = 'w-1'")
    _assert_exact(database_url)
    assert _rows(database_url, "SELECT 1 FROM term_stats WHERE lexeme = 'flywheel'") == []  # no zero rows

    added = seek.models.add(COLLECTION, chunk_tokens=16, chunk_overlap=0)
    seek.models.backfill(COLLECTION)
    _assert_exact(database_url)
    versions = {v for (v,) in _rows(database_url, "SELECT DISTINCT version_id FROM term_stats")}
    assert added.id in versions and len(versions) == 2
    seek.models.retire(COLLECTION, added.id)
    _assert_exact(database_url)
    assert added.id not in {v for (v,) in _rows(database_url, "SELECT DISTINCT version_id FROM term_stats")}


def test_the_postings_function_returns_the_calling_tenants_chunks_only(seek: Seek, database_url: str) -> None:
    # SECURITY DEFINER reads past row-level security; the function must apply the tenant itself.
    owners = dict(_rows(database_url, "SELECT id, tenant_id FROM chunks"))
    version = _rows(database_url, "SELECT version_id FROM chunks WHERE tenant_id = 'other' LIMIT 1")[0][0]
    collection = _rows(database_url, "SELECT id FROM collections WHERE name = %s", (COLLECTION,))[0][0]

    async def postings(scope: TenantConn, _: catalog.Collection) -> list[tuple[Any, ...]]:
        cur = await scope.conn.execute(
            "SELECT id FROM pgseek_keyword_postings(%s, %s, ARRAY['sprocket'], 'sprocket'::tsquery, NULL)",
            (collection, version),
        )
        return await cur.fetchall()

    for tenant in ("default", "other"):
        ids = {i for (i,) in _in_scope(database_url, tenant, postings)}
        assert ids and {owners[i] for i in ids} == {tenant}


@pytest.mark.parametrize("lexeme", ["o'neil", "back\\slash", "a:b", "x & y", "''"])
def test_any_of_quotes_every_lexeme_as_one_word(database_url: str, lexeme: str) -> None:
    query = db_search.any_of([lexeme, "plain"])
    rows = _rows(
        database_url,
        "SELECT array_to_tsvector(ARRAY[%s]) @@ %s::tsquery, array_to_tsvector(ARRAY[%s]) @@ %s::tsquery",
        (lexeme, query, lexeme + "z", query),
    )
    assert rows == [(True, False)]
