"""Index kinds on the real server: an IVFFlat collection is searched exactly until it holds enough rows, then through
its index, and an outgrown one is rebuilt online; a mid-size tenant's partial HNSW index is built, serves its searches
(EXPLAIN names it) and not another tenant's, and is dropped when the tenant goes; halfvec and binary quantized indexes
return k rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from pgseek.config import Settings
from pgseek.db import queries
from pgseek.db.indexes import partial_index_name
from pgseek.seek import Seek
from pgseek.types import Document
from tests.conftest import NearbyVectors
from tests.integration.test_cli import pgseek

TABLE_QUERY = (
    "SELECT c.id, v.table_name FROM collections c "
    "JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active' WHERE c.name = %s"
)


def _notes(tenant: str, count: int) -> list[Document]:
    return [
        Document(f"{tenant}-{i}", f"Harbour note {i} of {tenant}: tides, ropes and moorings.") for i in range(count)
    ]


@pytest.fixture(scope="module")
def base(settings: Settings) -> Settings:
    # A low exact-search bound: the tests' tenants of a few hundred chunks are searched through the index.
    return settings.model_copy(update={"exact_search_below": 20})


def _table(database_url: str, collection: str) -> tuple[int, str]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(TABLE_QUERY, (collection,)).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _indexes(database_url: str, table: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)).fetchall()
    return {str(name): str(definition) for name, definition in rows}


def _records(database_url: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        query = "SELECT name, kind, tenant_id, rows_at_build, lists FROM vector_indexes WHERE table_name = %s"
        return conn.execute(query, (table,)).fetchall()


def test_ivfflat_waits_for_enough_rows_then_serves_and_is_rebuilt_when_outgrown(
    base: Settings, local_embedder: Any, database_url: str
) -> None:
    ivf = base.model_copy(update={"index_kind": "ivfflat", "ivfflat_min_rows": 200})
    with Seek(ivf, embedder=NearbyVectors(local_embedder)) as seek:
        seek.ingest_documents(_notes("a", 60), tenant="a", collection="ivf")
        _, table = _table(database_url, "ivf")
        assert not any("ivfflat" in d for d in _indexes(database_url, table).values())
        early = seek.search("tides and ropes", collection="ivf", tenant="a", k=5)
        assert early.plan == "exact" and len(early.hits) == 5  # 60 rows: no lists to cluster yet
        doctor = seek.doctor("ivf", recall=False)
        assert any("searched exactly until it holds 200 rows" in f.message for f in doctor.findings)

        seek.ingest_documents(_notes("a", 240), tenant="a", collection="ivf")
        definition = _indexes(database_url, table)[f"{table}_ivfflat_cosine"]
        assert "USING ivfflat" in definition and "lists='1'" in definition
        assert _records(database_url, table) == [(f"{table}_ivfflat_cosine", "ivfflat", None, 240, 1)]
        served = seek.search("tides and ropes", collection="ivf", tenant="a", k=5)
        assert served.plan == "ivfflat" and len(served.hits) == 5

        # As if it had been built over 100 rows with 3 lists: 240 rows now are 2.4x that, and want 1 list.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE vector_indexes SET rows_at_build = 100, lists = 3 WHERE table_name = %s", (table,))
        grown = next(f for f in seek.doctor("ivf", recall=False).findings if f.check == "ivfflat")
        assert grown.severity == "warn" and "2.4x its build size" in grown.message
        report = seek.maintain("ivf", apply=True)
        [rebuilt] = [a for a in report.actions if a.kind == "rebuild_ivfflat"]
        assert rebuilt.status == "done", rebuilt.error
        assert [n for n in _indexes(database_url, table) if "ivfflat" in n] == [f"{table}_ivfflat_cosine"]
        assert _records(database_url, table) == [(f"{table}_ivfflat_cosine", "ivfflat", None, 240, 1)]
        assert seek.search("tides and ropes", collection="ivf", tenant="a", k=5).plan == "ivfflat"


def _explain(database_url: str, table: str, collection_id: int, tenant: str, vector: Sequence[float]) -> str:
    """The plan of the search's own statement, run as the search runs it: the tenant's scope, the iterative settings."""
    statement = queries.VECTOR_SEARCH.format(
        operator=sql.SQL("<=>"),
        plan=sql.SQL("iterative"),
        table=sql.Identifier(table),
        filter=sql.SQL("TRUE"),
        order=queries.vector_order(sql.SQL("<=>"), exact=False),
    )
    values = {"query": np.asarray(vector, dtype=np.float32), "tenant": tenant, "collection": collection_id, "k": 10}
    with psycopg.connect(database_url) as conn:
        register_vector(conn)
        conn.execute(queries.tenant_scope(tenant))
        conn.execute(queries.iterative_scan(40, 20000))
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, values).fetchone()
    assert row is not None
    return json.dumps(row[0])


def test_a_mid_size_tenant_gets_a_partial_index_its_searches_use_until_it_goes(
    base: Settings, local_embedder: Any, database_url: str
) -> None:
    auto = base.model_copy(update={"partial_indexes": "auto"})
    with Seek(auto, embedder=NearbyVectors(local_embedder)) as seek:
        seek.ingest_documents(_notes("big", 600), tenant="big", collection="shared")
        seek.ingest_documents(_notes("mid", 30), tenant="mid", collection="shared")  # 4.8%: deserves one
        collection_id, table = _table(database_url, "shared")
        name = partial_index_name(table, collection_id, "mid")
        definition = _indexes(database_url, table)[name]
        assert "USING hnsw" in definition and "WHERE ((tenant_id = 'mid'::text) AND (collection_id = " in definition
        assert _records(database_url, table) == [(name, "partial", "mid", 30, None)]

        vector = seek.embedder("shared").embed(["tides"], purpose="query")[0].tolist()
        assert name in _explain(database_url, table, collection_id, "mid", vector)
        assert name not in _explain(database_url, table, collection_id, "big", vector)
        result = seek.search("tides", collection="shared", tenant="mid", k=10)
        assert result.plan == "iterative" and len(result.hits) == 10
        assert {h.document_id.split("-")[0] for h in result.hits} == {"mid"}

        assert seek.delete_collection("shared", tenant="mid") == 30
        planned = [a for a in seek.maintain("shared").actions if a.kind == "drop_partial"]
        assert [a.subject for a in planned] == [name] and "no chunks left" in planned[0].reason
        done = seek.maintain("shared", apply=True)
        assert [a.status for a in done.actions if a.kind == "drop_partial"] == ["done"]
        assert name not in _indexes(database_url, table) and _records(database_url, table) == []


@pytest.mark.parametrize(("quantization", "suffix"), [("halfvec", "hnsw_half_cosine"), ("binary", "hnsw_bit")])
def test_quantized_indexes_return_k_rows_reranked(
    base: Settings, local_embedder: Any, database_url: str, quantization: str, suffix: str
) -> None:
    collection = f"q-{quantization}"
    quantized = base.model_copy(update={"quantization": quantization})
    with Seek(quantized, embedder=local_embedder) as seek:
        seek.ingest_documents(
            [Document(f"d{i}", f"Note {i}: the tide table for day {i} of the harbour calendar.") for i in range(80)],
            tenant="t",
            collection=collection,
        )
        _, table = _table(database_url, collection)
        assert f"{table}_{suffix}" in _indexes(database_url, table)
        result = seek.search("tide table for day 7", collection=collection, tenant="t", k=10)
    assert result.plan == "iterative" and len(result.hits) == 10
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)  # re-ranked by the full-precision distance
    assert result.hits[0].document_id == "d7"


def test_the_cli_creates_a_quantized_collection_and_reports_capacity(database_url: str, pgseek_home: Path) -> None:
    env = {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}
    note = pgseek_home / "tides.md"
    note.write_text("# Tides\n\nThe tide table gives high and low water for each day of the month.")
    both = pgseek(
        ["ingest", str(note), "--collection", "cli-bits", "--index", "ivfflat", "--quantization", "binary"], env
    )
    assert both.returncode == 2 and "quantization binary builds an HNSW index" in both.stderr
    made = pgseek(["ingest", str(note), "--collection", "cli-bits", "--quantization", "binary", "--json"], env)
    assert made.returncode == 0, made.stderr
    _, table = _table(database_url, "cli-bits")
    assert f"{table}_hnsw_bit" in _indexes(database_url, table)
    capacity = pgseek(["capacity", "--queries", "3", "--json"], env)
    assert capacity.returncode == 0, capacity.stderr
    report = json.loads(capacity.stdout)
    assert report["measured"]["vectors"] > 0 and [s["factor"] for s in report["scenarios"]] == [1, 10, 100]
    measured = report["measured"]
    assert (measured["read_replicas"], measured["partitioned_collections"]) == (0, 0)
    # Unpartitioned: the graph a search walks is the whole (binary) index.
    assert 0 < measured["largest_graph_bytes"] <= measured["index_bytes"]  # other tests' collections count too
    assert report["scenarios"][0]["next_step"] == "none"
    text = pgseek(["capacity", "--queries", "3"], env)
    assert text.returncode == 0, text.stderr
    assert "scale-out: 0 read replica(s), 0 in rotation; 0 collection(s) partitioned by tenant" in text.stdout
    assert text.stdout.count("next step: ") >= 3 and "no read replicas: about" in text.stdout
