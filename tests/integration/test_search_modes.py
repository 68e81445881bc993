"""Keyword, hybrid and filtered search on the real server and model; plans; distance metrics."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

from pgseek import Condition, Document, SearchFilter, SearchOptions, Seek
from pgseek.errors import ConfigurationError, QueryError

TOPICS = ["rivers", "mountains", "forests", "deserts", "oceans", "glaciers"]


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any) -> Any:
    with Seek(settings, embedder=local_embedder) as s:
        docs = [
            Document(
                f"doc-{i:03d}",
                f"Field note {i} on {TOPICS[i % 6]}: observations of wildlife and weather near the {TOPICS[i % 6]}.",
                title=f"Note {i}",
                metadata={"topic": TOPICS[i % 6], "year": 2000 + i % 20, "rare": i % 25 == 0, "team": {"lead": "Ada"}},
            )
            for i in range(300)
        ]
        docs.append(Document("manual", "Replace the XJ-4417 gasket before winter.", title="Pump manual"))
        assert s.ingest_documents(docs, collection="modes").documents_added == 301
        yield s


def test_keyword_finds_an_exact_code(seek: Seek) -> None:
    result = seek.search("XJ-4417", mode="keyword", collection="modes")
    assert [h.document_id for h in result.hits] == ["manual"]
    assert result.hits[0].legs["keyword"].rank == 1
    assert result.plan is None and result.fewer_than_k
    assert seek.search('"wildlife and weather" -forests', mode="keyword", k=50, collection="modes").hits
    assert all(
        "forests" not in h.chunk
        for h in seek.search('"wildlife and weather" -forests', mode="keyword", k=50, collection="modes").hits
    )


def test_hybrid_fuses_and_explains(seek: Seek) -> None:
    result = seek.search("XJ-4417 gasket replacement", mode="hybrid", k=5, collection="modes")
    top = result.hits[0]
    assert top.document_id == "manual"
    assert set(top.legs) == {"vector", "keyword"}
    assert top.score == pytest.approx(1 / (60 + top.legs["vector"].rank) + 1 / (60 + top.legs["keyword"].rank))
    assert result.timings_ms.fuse >= 0 and result.mode == "hybrid"


def test_a_selective_filter_still_returns_k(seek: Seek, settings: Any, local_embedder: Any) -> None:
    rare = SearchFilter(metadata=(Condition("rare", "eq", True),))  # 12 of 301 documents
    for exact_below in (0, 100_000):  # force the iterative index scan, then the exact scan
        tuned = settings.model_copy(update={"exact_search_below": exact_below})
        with Seek(tuned, embedder=local_embedder) as s:
            result = s.search("wildlife near the rivers", k=10, filter=rare, collection="modes")
        assert result.plan == ("iterative" if exact_below == 0 else "exact")
        assert len(result.hits) == 10 and not result.fewer_than_k
        assert all(h.metadata["rare"] is True for h in result.hits)
    few = seek.search("rivers", k=10, filter=SearchFilter(document_ids=("doc-001", "doc-002")), collection="modes")
    assert {h.document_id for h in few.hits} == {"doc-001", "doc-002"} and few.fewer_than_k


def test_iterative_and_exact_agree(seek: Seek, settings: Any, local_embedder: Any) -> None:
    mountains = SearchFilter(metadata=(Condition("topic", "eq", "mountains"), Condition("year", "gte", 2010)))
    ids = []
    for exact_below in (0, 100_000):
        with Seek(settings.model_copy(update={"exact_search_below": exact_below}), embedder=local_embedder) as s:
            hits = s.search("snowy peaks and weather", k=10, filter=mountains, collection="modes").hits
        assert all(h.metadata["topic"] == "mountains" and h.metadata["year"] >= 2010 for h in hits)
        ids.append([h.document_id for h in hits])
    assert len(set(ids[0]) & set(ids[1])) >= 9  # recall@10 of the index scan against exact search


def test_filters_apply_to_every_mode(seek: Seek) -> None:
    deserts = SearchFilter(contains={"topic": "deserts"})
    for mode in ("vector", "keyword", "hybrid"):
        hits = seek.search("wildlife weather", mode=mode, k=20, filter=deserts, collection="modes").hits
        assert hits and all(h.metadata["topic"] == "deserts" for h in hits), mode


def test_bad_options_are_clear(seek: Seek) -> None:
    with pytest.raises(QueryError, match="unknown mode") as bad:
        seek.search("x", mode="fuzzy", collection="modes")
    assert bad.value.field == "mode"
    # A misspelt option is caught by mypy (explicit signatures) and, untyped, by Python itself.
    with pytest.raises(TypeError, match="colection"):
        seek.search("x", colection="modes")  # type: ignore[call-arg]
    with pytest.raises(QueryError, match="unknown search option"):
        SearchOptions().merged({"colection": "modes"})


@pytest.mark.parametrize("distance", ["l2", "ip"])
def test_distance_per_collection(settings: Any, local_embedder: Any, database_url: str, distance: str) -> None:
    with Seek(settings.model_copy(update={"distance": distance}), embedder=local_embedder) as s:
        docs = [Document(f"{distance}-{t}", f"All about {t}.", title=t) for t in TOPICS]
        s.ingest_documents(docs, collection=f"dist-{distance}")
        hits = s.search("sand dunes and camels", k=3, collection=f"dist-{distance}").hits
        assert hits[0].document_id == f"{distance}-deserts"
        assert hits[0].score >= hits[1].score
    opclass = {"l2": "vector_l2_ops", "ip": "vector_ip_ops"}[distance]
    with psycopg.connect(database_url) as conn:
        # One index (a partitioned collection's: its partitions' indexes are children of it, in pg_inherits).
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes i WHERE indexdef LIKE %s AND NOT EXISTS "
            "(SELECT FROM pg_inherits WHERE inhrelid = format('%%I.%%I', i.schemaname, i.indexname)::regclass)",
            (f"%{opclass}%",),
        ).fetchone()
    assert row is not None and row[0] == 1


def test_random_searches_never_cross_tenants(settings: Any, local_embedder: Any) -> None:
    tenants = ["t-red", "t-green", "t-blue"]
    rng = random.Random(7)
    with Seek(settings, embedder=local_embedder) as s:
        for t in tenants:
            docs = [
                Document(f"{t}/{i}", f"{TOPICS[i % 6]} report {i} by {t}", metadata={"topic": TOPICS[i % 6], "n": i})
                for i in range(30)
            ]
            s.ingest_documents(docs, tenant=t, collection="tenants")
        filters = [
            None,
            SearchFilter(metadata=(Condition("topic", "in", ("rivers", "oceans")),)),
            SearchFilter(metadata=(Condition("n", "lt", 10),)),
            SearchFilter(document_ids=("t-red/1", "t-green/1", "t-blue/1")),  # names other tenants' ids too
        ]
        queries = ["river report", "mountain", "t-red", "report by t-green", "oceans 3"]
        for _ in range(1000):
            tenant = rng.choice(tenants)
            result = s.search(
                rng.choice(queries),
                tenant=tenant,
                filter=rng.choice(filters),
                mode=rng.choice(["vector", "keyword", "hybrid"]),
                k=rng.choice([1, 5, 20]),
                collection="tenants",
            )
            assert all(h.document_id.startswith(f"{tenant}/") for h in result.hits)


def test_text_search_config_per_collection(settings: Any, local_embedder: Any) -> None:
    doc = Document("fr", "Les chevaux couraient dans les champs.", title="Chevaux")
    with Seek(settings.model_copy(update={"text_search_config": "simple"}), embedder=local_embedder) as s:
        s.ingest_documents([doc], collection="simple-fts")
        assert s.search("couraient", mode="keyword", collection="simple-fts").hits
        assert not s.search("courir", mode="keyword", collection="simple-fts").hits  # 'simple' does not stem
    english = settings.model_copy(update={"text_search_config": "english"})
    with Seek(english, embedder=local_embedder) as s:
        s.ingest_documents([Document("en", "The horses were running.", title="Horses")], collection="english-fts")
        assert s.search("run", mode="keyword", collection="english-fts").hits  # english stems running -> run
    with (
        pytest.raises(ConfigurationError, match="klingon"),
        Seek(settings.model_copy(update={"text_search_config": "klingon"}), embedder=local_embedder) as s,
    ):
        s.ingest_documents([doc], collection="bad-fts")


def test_iterative_scan_returns_k_where_a_plain_index_scan_falls_short(seek: Seek, database_url: str) -> None:
    """On the HNSW index (forced: this table is small enough that the planner would scan it whole), a selective filter
    leaves a plain index scan short of k; pgseek's iterative plan still returns k."""
    import asyncio

    from pgvector.psycopg import register_vector_async
    from psycopg import sql

    from pgseek.db import catalog as db_catalog
    from pgseek.db import queries
    from pgseek.db import scope as db_scope
    from pgseek.db import search as db_search
    from pgseek.db.filters import compile_filter

    vector = seek.embedder().embed(["wildlife near the rivers"], purpose="query")[0]
    rare = compile_filter(SearchFilter(metadata=(Condition("rare", "eq", True),)))

    async def run() -> tuple[str, int, int]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await register_vector_async(conn)
            collection = await db_catalog.get_collection(conn, "modes")
            table = collection.table
            assert table is not None
            names = {
                "table": sql.Identifier(table),
                "filter": rare[0],
                "operator": sql.SQL("<=>"),
                "plan": sql.SQL("test"),
                "order": queries.vector_order(sql.SQL("<=>"), exact=False),
            }
            values = {**rare[1], "query": vector, "tenant": "default", "collection": collection.id, "k": 10}
            statement = queries.VECTOR_SEARCH.format(**names)
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_sort = off")  # only the HNSW index yields rows in order
                scope = await db_scope.enter_tenant(conn, "default")
                cur = await conn.execute(sql.SQL("EXPLAIN ") + statement, values)
                plan = "\n".join(str(r[0]) for r in await cur.fetchall())
                cur = await conn.execute(statement, values)  # hnsw.iterative_scan is off by default
                plain = len(await cur.fetchall())
                tuning = db_search.VectorTuning(ef_search=40, max_scan_tuples=20000, exact_below=0)
                rows, chosen = await db_search.vector_search(
                    scope, table, collection, vector, k=10, tuning=tuning, where=rare
                )
                assert chosen.kind == "iterative"
                return plan, plain, len(rows)

    plan, plain, iterative = asyncio.run(run())
    assert "Index Scan" in plan and "Order By: (embedding <=>" in plan, plan  # the HNSW index (of one partition)
    assert plain < 10, "the forced index scan should fall short of k without an iterative scan"
    assert iterative == 10


def test_natural_language_keyword_queries_match_any_word(seek: Seek) -> None:
    # "failure" is in no document: ANDing every word would return nothing.
    hits = seek.search("gasket failure in winter", mode="keyword", k=3, collection="modes").hits
    assert hits and hits[0].document_id == "manual"
    assert not seek.search('"gasket failure"', mode="keyword", collection="modes").hits  # a phrase stays a phrase
