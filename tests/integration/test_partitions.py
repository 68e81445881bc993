"""Collections partitioned by tenant (decision 0031) and the tenant-first keys under them (decision 0030), on the
real server: the layout, pruning to one partition, a tenant moved to its own partition, from the library, the CLI
and the HTTP API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.config import Settings
from pgseek.db import partitions, queries
from pgseek.errors import BusyError, ConflictError, InputError
from tests.integration.test_cli import pgseek

TENANTS = ("acme", "globex", "o'brien & co", "initech")


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    # No result cache: a search after a move must read the new partition, not a result stored before it.
    return Settings(home=pgseek_home, database_url=database_url, partitions=3, cache_results=False)


@pytest.fixture(scope="module")
def seek(settings: Settings, local_embedder: Any) -> Iterator[Seek]:
    with Seek(settings, embedder=local_embedder) as s:
        for n, tenant in enumerate(TENANTS):
            docs = [
                Document(f"{tenant}-{i}", f"{tenant} harbour log {i}: tides, ropes and {n} gulls.", metadata={"i": i})
                for i in range(6 + 4 * n)
            ]
            assert s.ingest_documents(docs, tenant=tenant, collection="parted").documents_added == len(docs)
        with Seek(settings.model_copy(update={"partitions": 0}), embedder=local_embedder) as plain:
            plain.ingest_documents([Document("one", "An unpartitioned note.")], tenant="acme", collection="plain")
        yield s


def _table(database_url: str, collection: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT v.table_name FROM embedding_versions v JOIN collections c ON c.id = v.collection_id "
            "WHERE c.name = %s AND v.state = 'active'",
            (collection,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_vectors_are_spread_over_hash_buckets_each_with_its_own_index(seek: Seek, database_url: str) -> None:
    report = seek.partitions("parted")
    assert report.buckets == 3 and [p.tenant for p in report.partitions] == [None, None, None]
    table = _table(database_url, "parted")
    with psycopg.connect(database_url) as conn:
        kinds = conn.execute(
            "SELECT c.relname, count(*) FILTER (WHERE a.amname = 'hnsw') FROM pg_partition_tree(%s::regclass) t "
            "JOIN pg_class c ON c.oid = t.relid LEFT JOIN pg_index x ON x.indrelid = c.oid "
            "LEFT JOIN pg_class i ON i.oid = x.indexrelid LEFT JOIN pg_am a ON a.oid = i.relam "
            "WHERE t.isleaf GROUP BY c.relname ORDER BY 1",
            (table,),
        ).fetchall()
        counts: dict[str, int] = dict(conn.execute(f"SELECT tenant_id, count(*) FROM {table} GROUP BY 1").fetchall())
    assert [k for _, k in kinds] == [1, 1, 1], kinds
    assert counts == {t: 6 + 4 * n for n, t in enumerate(TENANTS)}


def test_a_tenants_search_reads_one_partition_and_the_app_role_no_partition(seek: Seek, database_url: str) -> None:
    table = _table(database_url, "parted")
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(queries.tenant_scope("globex"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN SELECT chunk_id FROM {table} WHERE tenant_id = 'globex' "
                f"ORDER BY embedding <=> (SELECT embedding FROM {table} LIMIT 1) LIMIT 5"
            ).fetchall()
        )
        leaves = [leaf.name for leaf in partitions_of(conn, table)]
        scanned = [leaf for leaf in leaves if f" {leaf} " in plan.replace("\n", " ")]
        assert len(scanned) == 1, plan
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM {leaves[0]}")


def partitions_of(conn: psycopg.Connection[Any], table: str) -> list[partitions.Leaf]:
    rows = conn.execute(partitions.LEAVES, (table,)).fetchall()
    return [partitions.Leaf(*r) for r in rows]


def test_a_tenant_moved_to_its_own_partition_finds_the_same_hits(seek: Seek, database_url: str) -> None:
    tenant = "o'brien & co"
    before = seek.search("tides and gulls", tenant=tenant, collection="parted", mode="hybrid", k=10)
    others = seek.search("tides and gulls", tenant="acme", collection="parted", k=10)
    moved = seek.move_tenant_partition("parted", tenant)
    assert moved.rows_moved == 14 and len(moved.tables) == 1
    report = seek.partitions("parted")
    own = [p for p in report.partitions if p.tenant is not None]
    assert [(p.tenant, p.name, p.rows) for p in own] == [(tenant, moved.tables[0], 14)]
    assert own[0].index_bytes > 0
    after = seek.search("tides and gulls", tenant=tenant, collection="parted", mode="hybrid", k=10)
    assert [h.chunk_id for h in after.hits] == [h.chunk_id for h in before.hits]
    assert [h.chunk_id for h in seek.search("tides and gulls", tenant="acme", collection="parted", k=10).hits] == [
        h.chunk_id for h in others.hits
    ]
    # Writes and deletes keep landing in the tenant's own partition.
    seek.ingest_documents([Document("late", "A late harbour note about gulls.")], tenant=tenant, collection="parted")
    seek.delete_document("o'brien & co-0", tenant=tenant, collection="parted")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f'SELECT count(*) FROM "{moved.tables[0]}"').fetchone()
    assert rows == (14,)
    with pytest.raises(ConflictError):
        seek.move_tenant_partition("parted", tenant)


def test_an_unpartitioned_collection_says_how_to_partition(seek: Seek) -> None:
    with pytest.raises(InputError, match="--partitions"):
        seek.partitions("plain")
    with pytest.raises(InputError, match="--partitions"):
        seek.move_tenant_partition("plain", "acme")


def test_every_tenant_owned_key_starts_with_the_tenant(seek: Seek, database_url: str) -> None:
    """Primary keys, unique constraints and foreign keys between tenant-owned tables lead with tenant_id: what
    partitioning by tenant and a distribution by tenant (Citus) both require."""
    tables = ["documents", "chunks", _table(database_url, "parted"), _table(database_url, "plain")]
    tables += ["keyword_stats", "term_stats", "tenant_collections", "recent_queries", "search_generations"]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, conname, contype, "
            "(SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(conkey) WITH ORDINALITY k(attnum, n) "
            " JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.attnum) "
            "FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = ANY(%s::regclass[]) "
            "OR contype = 'f' AND conrelid = ANY(%s::regclass[]) AND confrelid IN ('documents'::regclass, "
            "'chunks'::regclass)",
            (tables, tables),
        ).fetchall()
    keyed = {(table, kind) for table, _, kind, _ in rows}
    assert {(t, "p") for t in tables} <= keyed
    assert ("chunks", "f") in keyed and (tables[2], "f") in keyed
    assert all(columns[0] == "tenant_id" for *_, columns in rows), rows


def test_the_cli_lists_and_moves(seek: Seek, database_url: str, pgseek_home: Path) -> None:
    env = {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}
    moved = pgseek(["partitions", "move", "initech", "--collection", "parted", "--json"], env)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["rows_moved"] == 18
    listed = pgseek(["partitions", "list", "-c", "parted"], env)
    assert listed.returncode == 0 and "tenant initech" in listed.stdout, listed.stdout
    again = pgseek(["partitions", "move", "initech", "-c", "parted"], env)
    assert again.returncode != 0 and "already has its own partition" in again.stderr
    assert "Traceback" not in again.stderr
    plain = pgseek(["partitions", "list", "-c", "plain"], env)
    assert plain.returncode != 0 and "--partitions" in plain.stderr and "Traceback" not in plain.stderr


def test_a_collection_created_before_its_first_ingest_is_partitioned_too(seek: Seek) -> None:
    seek.create_collection("made-first", tenant="acme")
    seek.ingest_documents([Document("a", "A harbour note.")], tenant="acme", collection="made-first")
    assert seek.partitions("made-first").buckets == 3


def test_the_doctor_reads_a_partitioned_table_by_its_partitions_and_maintain_fixes_it(
    seek: Seek, database_url: str
) -> None:
    table = _table(database_url, "parted")
    report = seek.doctor("parted", recall=False)
    sized = [f for f in report.findings if f.check == "indexes" and f.figures.get("size_bytes")]
    assert sized and all(int(str(f.figures["size_bytes"])) > 0 for f in sized), report.findings
    memory = next(f for f in report.findings if f.check == "memory")
    assert int(str(memory.figures["index_bytes"])) > 0
    dead = next(f for f in report.findings if f.check == "dead_tuples" and f.subject == table)
    assert int(str(dead.figures["live_rows"])) + int(str(dead.figures["dead_rows"])) > 0
    # The scale factors go on each partition (a partitioned table takes none), and read back as set.
    before = next(f for f in report.findings if f.check == "autovacuum" and f.subject == table)
    assert before.severity == "warn", before
    # Dead rows in the partitions: VACUUM (ANALYZE) of the parent and REINDEX CONCURRENTLY of its partitioned index.
    bulk = [Document(f"bulk-{i}", f"Bulk harbour entry {i} about ropes.") for i in range(120)]
    seek.ingest_documents(bulk, tenant="bulk", collection="parted")
    for i in range(110):
        seek.delete_document(f"bulk-{i}", tenant="bulk", collection="parted")
    deadline = time.monotonic() + 30  # the partitions' statistics reach pg_stat_user_tables within seconds
    while True:
        planned = seek.maintain("parted")
        vacuums = [a for a in planned.actions if a.kind == "vacuum" and a.subject == table]
        if vacuums or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert vacuums, planned.actions
    applied = seek.maintain("parted", apply=True)
    assert not applied.failed, applied.failed
    assert {a.kind for a in applied.actions if a.status == "done"} >= {"vacuum", "autovacuum"}, applied.actions
    after = seek.doctor("parted", recall=False)
    tuned = next(f for f in after.findings if f.check == "autovacuum" and f.subject == table)
    assert tuned.severity == "ok" and tuned.figures["vacuum_scale_factor"] == 0.01, tuned


def test_a_move_during_writes_loses_nothing_and_waits_a_bounded_time(settings: Settings, local_embedder: Any) -> None:
    """An ingest run holds a read lock on the table from its first hash check to its end, and its writes wait for a
    move in progress: the move waits at most its lock timeout, rolls back and tries again, then says the table is
    busy. Either way nothing is lost, and a move when the writes are done puts every row in the tenant's partition."""
    tenant = "busy"
    with Seek(settings, embedder=local_embedder) as first:
        docs = [Document(f"busy-{i}", f"Busy log {i}.") for i in range(20)]
        first.ingest_documents(docs, tenant=tenant, collection="moving")
    errors: list[BaseException] = []
    started = threading.Event()

    def keep_writing() -> None:
        try:
            with Seek(settings, embedder=local_embedder) as writer:
                for n in range(6):
                    started.set()
                    docs = [Document(f"late-{n}-{i}", f"Late busy log {n}.{i}.") for i in range(5)]
                    writer.ingest_documents(docs, tenant=tenant, collection="moving")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    writing = threading.Thread(target=keep_writing)
    writing.start()
    started.wait(timeout=120)
    outcome: str
    with Seek(settings, embedder=local_embedder) as operator:
        try:
            operator.move_tenant_partition("moving", tenant)
            outcome = "moved"
        except BusyError:
            outcome = "busy"
        writing.join(timeout=300)
        assert not writing.is_alive() and not errors, errors
        if outcome == "busy":
            operator.move_tenant_partition("moving", tenant)
        report = operator.partitions("moving")
        chunks = operator.collection("moving", tenant=tenant).chunks
    own = next(p for p in report.partitions if p.tenant == tenant)
    with psycopg.connect(settings.database_url or "") as conn:
        in_own = conn.execute(f'SELECT count(*) FROM "{own.name}"').fetchone()
        left = conn.execute(f'SELECT count(*) FROM "{report.table}_rest" WHERE tenant_id = %s', (tenant,)).fetchone()
    print(f"\nmove during writes: {outcome}")
    assert chunks == 20 + 6 * 5, outcome
    assert in_own == (chunks,) and left == (0,), (outcome, in_own, left)
