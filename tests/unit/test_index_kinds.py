"""Index kinds without a database: IVFFlat lists and probes, when an IVFFlat index has outgrown its build, which
tenants get a partial HNSW index (and lose it), the names and statements of each kind of index."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pgseek.db.catalog import CollectionVectors
from pgseek.db.health import IndexFacts, TenantSize
from pgseek.db.indexes import (
    BuildOptions,
    IndexSpec,
    RecordedIndex,
    create_statement,
    ivfflat_lists,
    ivfflat_probes,
    partial_index_name,
)
from pgseek.ops.checks import Facts, ivfflat_growth, partial_index_candidates, partial_plan, vector_indexes
from tests.unit.test_doctor_checks import POLICY, SERVER, _table

BUILD = BuildOptions(m=16, ef_construction=64, memory="1GB", ivfflat_min_rows=10_000)
IVF = CollectionVectors("ivf", 2, "embeddings_v2", "cosine", 384, "float32", "ivfflat")
IVF_INDEX = IndexFacts(
    "embeddings_v2", "embeddings_v2_ivfflat_cosine", "ivfflat", True, 1, "vector_cosine_ops", (), False, False
)


@pytest.mark.parametrize(
    ("rows", "lists"), [(0, 1), (999, 1), (10_000, 10), (1_000_000, 1000), (1_000_001, 1000), (4_000_000, 2000)]
)
def test_lists_from_the_row_count(rows: int, lists: int) -> None:
    assert ivfflat_lists(rows) == lists


def test_probes_default_to_the_square_root_of_the_lists() -> None:
    assert [ivfflat_probes(n, 0) for n in (1, 100, 1000)] == [1, 10, 32]
    assert ivfflat_probes(100, 7) == 7 and ivfflat_probes(4, 7) == 4  # never more than there are lists


def test_each_kind_has_its_index_and_statement() -> None:
    plain, half, bits = (IndexSpec("hnsw", q, "cosine", 384) for q in ("none", "halfvec", "binary"))
    assert (
        plain.name("t") == "t_hnsw_cosine" and half.name("t") == "t_hnsw_half_cosine" and bits.name("t") == "t_hnsw_bit"
    )
    assert create_statement("t", half, "vector", BUILD).as_string(None) == (
        'CREATE INDEX IF NOT EXISTS "t_hnsw_half_cosine" ON "t" USING hnsw ((embedding::halfvec(384)) '
        "halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )
    assert "(binary_quantize(embedding)::bit(384)) bit_hamming_ops" in create_statement(
        "t", bits, "vector", BUILD
    ).as_string(None)
    ivf = IndexSpec("ivfflat", "none", "l2", 384)
    built = create_statement("t", ivf, "halfvec", BUILD, lists=40, concurrently=True).as_string(None)
    assert built.startswith('CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_ivfflat_l2" ON "t" USING ivfflat (embedding')
    assert built.endswith("halfvec_l2_ops) WITH (lists = 40)")


def test_partial_indexes_have_safe_names_and_the_tenant_as_a_literal() -> None:
    hostile = 'x"; DROP TABLE chunks; --'
    name = partial_index_name("embeddings_v7", 3, hostile)
    assert re.fullmatch(r"embeddings_v7_p[0-9a-f]{16}", name) and len(name) < 63
    assert name != partial_index_name("embeddings_v7", 4, hostile)  # per collection too
    statement = create_statement(
        "embeddings_v7", IndexSpec("hnsw", "none", "cosine", 384), "vector", BUILD, index=name, tenant=(hostile, 3)
    )
    assert statement.as_string(None).endswith("""WHERE tenant_id = 'x"; DROP TABLE chunks; --' AND collection_id = 3""")


def _ivf_facts(rows: int, built_rows: int, lists: int) -> Facts:
    record = RecordedIndex(IVF_INDEX.name, IVF.table, 2, "ivfflat", None, built_rows, lists, "2026-11-29")
    tables = {IVF.table: _table(IVF.table, rows, 0)}
    return Facts(SERVER, (IVF,), tables, (IVF_INDEX,), (), (record,))


def test_an_ivfflat_index_outgrown_by_its_table_wants_a_rebuild() -> None:
    [fine] = ivfflat_growth(_ivf_facts(15_000, 10_000, 10), POLICY)
    assert fine.severity == "ok" and "10 lists" in fine.message
    [grown] = ivfflat_growth(_ivf_facts(50_000, 10_000, 10), POLICY)
    assert grown.severity == "warn" and grown.figures["lists_now"] == 50 and "maintain --apply" in grown.advice


def test_an_ivfflat_collection_is_exact_until_enough_rows() -> None:
    facts = Facts(SERVER, (IVF,), {IVF.table: _table(IVF.table, 500, 0)}, (), ())
    [finding] = vector_indexes(facts, POLICY)
    assert finding.severity == "ok" and "searched exactly until it holds 10,000 rows" in finding.message
    grown = replace(facts, tables={IVF.table: _table(IVF.table, 20_000, 0)})
    assert vector_indexes(grown, POLICY)[0].severity == "problem"


DOCS = CollectionVectors("docs", 1, "embeddings_1", "cosine", 384, "float32")


def _partial(tenant: str) -> RecordedIndex:
    return RecordedIndex(
        partial_index_name("embeddings_1", 1, tenant), "embeddings_1", 1, "partial", tenant, 9_000, None, ""
    )


def test_partial_indexes_are_planned_kept_and_dropped() -> None:
    tenants = (
        TenantSize(1, "whale", 900_000),
        TenantSize(1, "mid", 30_000),  # 3%: deserves one
        TenantSize(1, "kept", 3_000 + 2_500),  # 0.58%, has one
        TenantSize(1, "near", 5_500),  # 0.58% too, but no index yet: built
        TenantSize(1, "shrunk", 5_100),  # 0.54%: over half the share, above the exact bound: kept
        TenantSize(1, "exact-now", 4_000),  # searched exactly: its index goes
    )
    recorded = tuple(_partial(t) for t in ("kept", "shrunk", "exact-now", "gone"))
    facts = Facts(SERVER, (DOCS,), {}, (), tenants, recorded)
    plan = partial_plan(facts, POLICY)
    assert [t.tenant for _, t in plan.build] == ["mid", "near"]
    assert sorted(r.tenant or "" for r, _ in plan.drop) == ["exact-now", "gone"]
    assert sorted(r.tenant or "" for r in plan.kept) == ["kept", "shrunk"]
    findings = partial_index_candidates(facts, POLICY)
    assert sum(f.severity == "warn" for f in findings) == 4 and sum(f.severity == "ok" for f in findings) == 2


def test_live_recall_from_the_service_is_judged_against_its_target() -> None:
    from datetime import UTC, datetime

    from pgseek.db.health import LiveRecall
    from pgseek.ops.checks import live_recall

    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    rows = (LiveRecall(1, 10, 200, 0.91, at), LiveRecall(9, 10, 5, 0.5, at))  # collection 9: not in these facts
    [finding] = live_recall(Facts(SERVER, (DOCS,), {}, (), (), (), rows), POLICY)
    assert finding.severity == "warn" and finding.subject == "collection docs" and "recall@10 0.910" in finding.message
    fine = Facts(SERVER, (DOCS,), {}, (), (), (), (LiveRecall(1, 10, 200, 0.97, at),))
    assert [f.severity for f in live_recall(fine, POLICY)] == ["ok"]
