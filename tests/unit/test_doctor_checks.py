"""The doctor's checks judge facts without a database: thresholds, severities and what each finding says to do."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pgseek.db.catalog import CollectionVectors
from pgseek.db.health import IndexFacts, ServerFacts, TableFacts, TenantSize
from pgseek.ops.checks import (
    Facts,
    Policy,
    autovacuum,
    build_memory,
    dead_tuples,
    hnsw_build_bytes,
    index_memory,
    ivfflat_growth,
    partial_index_candidates,
    vector_indexes,
    versions,
)
from pgseek.ops.findings import DoctorReport, Finding, worst
from pgseek.ops.maintain import index_fixes, prewarm_fixes, table_fixes
from pgseek.ops.recall import bucket_of

MB = 2**20
SERVER = ServerFacts(
    postgres_version="18.1",
    pgvector_version="0.8.5",
    shared_buffers_bytes=512 * MB,
    maintenance_work_mem_bytes=64 * MB,
    effective_cache_size_bytes=4096 * MB,
    autovacuum=True,
    vacuum_scale_factor=0.2,
    analyze_scale_factor=0.1,
    prewarm_available=False,
    prewarm_installed=False,
    started_at=datetime(2026, 1, 1, tzinfo=UTC),
)
POLICY = Policy(
    hnsw_m=16,
    ef_search=40,
    exact_search_below=5000,
    build_memory="1GB",
    build_memory_bytes=1024 * MB,
    memory_bytes=8192 * MB,
)
DOCS = CollectionVectors("docs", 1, "embeddings_1", "cosine", 384, "float32")
INDEX = IndexFacts(
    "embeddings_1", "embeddings_1_hnsw_cosine", "hnsw", True, 100 * MB, "vector_cosine_ops", ("m=16",), False, False
)


def _table(name: str, live: int, dead: int, options: tuple[str, ...] = ()) -> TableFacts:
    return TableFacts(name, live, dead, 10 * MB, options, None)


def _facts(
    *,
    server: ServerFacts = SERVER,
    tables: tuple[TableFacts, ...] = (),
    indexes: tuple[IndexFacts, ...] = (INDEX,),
    tenants: tuple[TenantSize, ...] = (TenantSize(1, "acme", 10_000),),
) -> Facts:
    return Facts(server, (DOCS,), {t.table: t for t in tables}, indexes, tenants)


@pytest.mark.parametrize(
    ("version", "severity"), [("0.8.3", "warn"), ("0.7.4", "warn"), ("0.8.4", "ok"), ("0.10.0", "ok")]
)
def test_pgvector_below_0_8_4_is_a_warning(version: str, severity: str) -> None:
    [finding] = versions(_facts(server=replace(SERVER, pgvector_version=version)), POLICY)
    assert finding.severity == severity
    assert ("ALTER EXTENSION vector UPDATE" in finding.advice) == (severity == "warn")


def test_dead_rows_want_a_vacuum_then_a_reindex_of_a_vector_table() -> None:
    tables = (_table("embeddings_1", 8500, 1500), _table("chunks", 7000, 3000))
    found = {f.subject: f for f in dead_tuples(_facts(tables=tables), POLICY)}
    assert found["embeddings_1"].severity == "warn" and "VACUUM" in found["embeddings_1"].advice
    assert found["chunks"].severity == "warn"  # no vector index to rebuild: a VACUUM is the fix
    bloated = {f.subject: f for f in dead_tuples(_facts(tables=(_table("embeddings_1", 7000, 3000),)), POLICY)}
    assert bloated["embeddings_1"].severity == "problem"
    assert "REINDEX INDEX CONCURRENTLY" in bloated["embeddings_1"].advice
    assert bloated["embeddings_1"].figures["dead_ratio"] == 0.3


def test_a_few_dead_rows_are_noise_whatever_their_share() -> None:
    [finding] = [
        f for f in dead_tuples(_facts(tables=(_table("embeddings_1", 20, 20),)), POLICY) if f.subject != "chunks"
    ]
    assert finding.severity == "ok"


def test_invalid_and_missing_indexes_are_problems() -> None:
    invalid = replace(INDEX, valid=False)
    found = vector_indexes(_facts(indexes=(invalid,)), POLICY)
    assert [f.severity for f in found] == ["problem", "problem"]  # the invalid index, and no serving one
    assert "REINDEX INDEX CONCURRENTLY" in found[0].advice and "CREATE INDEX CONCURRENTLY" in found[1].advice
    building = vector_indexes(_facts(indexes=(replace(invalid, building=True),)), POLICY)
    assert building[0].severity == "warn"
    empty = vector_indexes(_facts(indexes=(), tenants=()), POLICY)
    assert [f.severity for f in empty] == ["ok"]  # no rows yet: built after the first ingest


def test_an_index_for_another_distance_does_not_serve() -> None:
    l2 = replace(INDEX, opclass="vector_l2_ops", name="embeddings_1_hnsw_l2")
    assert [f.severity for f in vector_indexes(_facts(indexes=(l2,)), POLICY)] == ["problem"]


def test_index_size_against_shared_buffers_and_ram() -> None:
    assert index_memory(_facts(), POLICY)[0].severity == "ok"
    large = replace(INDEX, size_bytes=1024 * MB)
    assert index_memory(_facts(indexes=(large,)), POLICY)[0].severity == "warn"
    huge = replace(INDEX, size_bytes=9000 * MB)
    assert index_memory(_facts(indexes=(huge,)), POLICY)[0].severity == "problem"
    # A server elsewhere: its effective_cache_size stands for its memory, and the finding says so.
    unknown = index_memory(_facts(indexes=(large,)), replace(POLICY, memory_bytes=None))[0]
    assert "effective_cache_size" in unknown.message


def test_autovacuum_wants_the_seeds_scale_factors() -> None:
    tuned = ("autovacuum_vacuum_scale_factor=0.01", "autovacuum_analyze_scale_factor=0.005")
    tables = (_table("embeddings_1", 10, 0, tuned), _table("chunks", 10, 0))
    found = {f.subject: f.severity for f in autovacuum(_facts(tables=tables), POLICY)}
    assert found == {"embeddings_1": "ok", "chunks": "warn"}
    off = (_table("embeddings_1", 10, 0, ("autovacuum_enabled=false", *tuned)),)
    assert autovacuum(_facts(tables=off), POLICY)[0].severity == "problem"
    assert autovacuum(_facts(server=replace(SERVER, autovacuum=False)), POLICY)[0].severity == "problem"


def test_the_build_memory_estimate() -> None:
    # 1M 384-d float32 vectors at m=16: about 2.1 GB, in line with pgvector's own "graph no longer fits" notices.
    assert 2.0e9 < hnsw_build_bytes(1_000_000, 384, "float32", 16) < 2.4e9
    assert hnsw_build_bytes(1_000, 384, "float16", 16) < hnsw_build_bytes(1_000, 384, "float32", 16)
    [small] = build_memory(_facts(), POLICY)
    assert small.severity == "ok"
    [large] = build_memory(_facts(tenants=(TenantSize(1, "acme", 1_000_000),)), POLICY)
    assert large.severity == "warn" and "PGSEEK_INDEX_BUILD_MEMORY" in large.advice


def test_tenants_that_deserve_a_partial_index() -> None:
    tenants = (
        TenantSize(1, "whale", 900_000),
        TenantSize(1, "mid", 30_000),  # 3%: a candidate
        TenantSize(1, "small-share", 3_000),  # under 0.4%
        TenantSize(1, "exactly-searched", 4_000),  # 0.4%, but searched exactly (at most 5,000 chunks)
    )
    [finding] = partial_index_candidates(_facts(tenants=tenants), POLICY)
    assert (
        finding.severity == "warn" and finding.message.count("chunks,") == 1 and "mid (30,000 chunks" in finding.message
    )


def test_ivfflat_is_not_applicable_until_pgseek_builds_it() -> None:
    assert [f.message for f in ivfflat_growth(_facts(), POLICY)] == ["no IVFFlat index: not applicable"]


def test_buckets_and_the_worst_severity() -> None:
    sizes = (5_000, 200_000, 60_000, 6_000)  # of 2M chunks: searched exactly, 10%, 3%, 0.3%
    assert [bucket_of(n, 2_000_000, POLICY) for n in sizes] == ["exact", "large", "mid", "small"]
    assert worst([]) == "ok" and worst(["ok", "problem", "warn"]) == "problem"
    report = DoctorReport((Finding("a", "warn", "s", "m"), Finding("b", "ok", "s", "m")))
    assert report.status == "warn" and report.to_json()["status"] == "warn" and report.problems == ()


def test_maintain_plans_online_fixes_from_the_same_facts() -> None:
    leftover = replace(INDEX, name="embeddings_1_hnsw_cosine_ccnew", valid=False)
    killed = replace(INDEX, name="embeddings_1_other", valid=False)
    tables = (_table("embeddings_1", 7000, 3000), _table("chunks", 9900, 100))
    facts = _facts(tables=tables, indexes=(INDEX, leftover, killed))
    fixes = [(f.action.kind, f.action.subject) for f in index_fixes(facts, POLICY)]
    assert fixes == [
        ("drop_index", "embeddings_1_hnsw_cosine_ccnew"),
        ("reindex", "embeddings_1_other"),
        ("reindex", "embeddings_1_hnsw_cosine"),  # 30% dead rows
    ]
    statements = {f.action.subject: f.statement.text for f in index_fixes(facts, POLICY)}
    dropped = 'DROP INDEX CONCURRENTLY IF EXISTS "embeddings_1_hnsw_cosine_ccnew"'
    assert statements["embeddings_1_hnsw_cosine_ccnew"] == dropped
    table = [(f.action.kind, f.action.subject) for f in table_fixes(facts, POLICY)]
    assert table == [("vacuum", "embeddings_1"), ("autovacuum", "chunks"), ("autovacuum", "embeddings_1")]
    tuned = ("autovacuum_vacuum_scale_factor=0.005", "autovacuum_analyze_scale_factor=0.005")  # lower: kept
    assert table_fixes(_facts(tables=(_table("chunks", 10, 0, tuned),)), POLICY) == []


def test_prewarm_only_where_the_extension_is_and_the_indexes_fit() -> None:
    assert prewarm_fixes(_facts()) == []  # not available on this server
    available = replace(SERVER, prewarm_available=True)
    fixes = [f.statement.text for f in prewarm_fixes(_facts(server=available))]
    assert fixes == [
        "CREATE EXTENSION IF NOT EXISTS pg_prewarm",
        """SELECT pg_prewarm('"embeddings_1_hnsw_cosine"'::regclass)""",
    ]
    too_large = replace(INDEX, size_bytes=600 * MB)
    assert prewarm_fixes(_facts(server=available, indexes=(too_large,))) == []
