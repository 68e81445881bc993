"""``doctor`` and ``maintain`` on the real server: dead rows from deletes and updates are reported, ``maintain
--apply`` fixes them online while searches run, an invalid index is a problem (CLI exit 1) that maintain rebuilds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgseek.config import Settings
from pgseek.errors import ConflictError, NotFoundError
from pgseek.ops.findings import DoctorReport, Finding
from pgseek.seek import Seek
from pgseek.types import Document
from tests.conftest import NearbyVectors
from tests.integration.test_cli import pgseek

COLLECTION = "ops"
SMALL = "ops-small"
TABLE_QUERY = (
    "SELECT v.table_name FROM collections c JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active' "
    "WHERE c.name = %s"
)


def _notes(tenant: str, count: int, version: int = 0) -> list[Document]:
    return [
        Document(f"{tenant}-{i}", f"Harbour note {i} of {tenant}, revision {version}: tides and ropes.")
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def ops_settings(settings: Settings) -> Settings:
    # A low exact-search bound: the test's tenants of a few hundred chunks are searched through the index.
    return settings.model_copy(update={"exact_search_below": 20})


@pytest.fixture(scope="module")
def table(ops_settings: Settings, database_url: str, local_embedder: Any) -> str:
    """The collection: tenant big (600 chunks), mid (30: 3.6%, a partial-index candidate), tiny (10: searched
    exactly) and gone (200, to delete). Autovacuum is turned off for its tables, so that only maintain cleans them."""
    with Seek(ops_settings, embedder=NearbyVectors(local_embedder)) as bulk:
        for tenant, count in (("big", 600), ("mid", 30), ("tiny", 10), ("gone", 200)):
            bulk.ingest_documents(_notes(tenant, count), tenant=tenant, collection=COLLECTION)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(TABLE_QUERY, (COLLECTION,)).fetchone()
        assert row is not None
        name = str(row[0])
        for t in (name, "chunks"):
            conn.execute(f'ALTER TABLE "{t}" SET (autovacuum_enabled = false)')
    return name


@pytest.fixture(scope="module")
def small_table(ops_settings: Settings, database_url: str, local_embedder: Any) -> str:
    """A collection of a few notes (its index is built on the first ingest): enough for the index checks."""
    with Seek(ops_settings, embedder=local_embedder) as seek:
        seek.ingest_documents(_notes("solo", 5), tenant="solo", collection=SMALL)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(TABLE_QUERY, (SMALL,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture()
def ops(ops_settings: Settings, local_embedder: Any) -> Iterator[Seek]:
    with Seek(ops_settings, embedder=local_embedder) as s:
        yield s


def _finding(report: DoctorReport, check: str, subject: str) -> Finding:
    return next(f for f in report.findings if f.check == check and f.subject == subject)


def _dead_rows_seen(seek: Seek, table: str, rows: int) -> DoctorReport:
    """The doctor's report once the statistics count ``rows`` dead rows in the table (a backend flushes its counts
    within a second or so of its last write)."""
    deadline = time.monotonic() + 30
    while True:
        report = seek.doctor(COLLECTION, recall=False)
        dead = _finding(report, "dead_tuples", table).figures["dead_rows"]
        if (isinstance(dead, int) and dead >= rows) or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


class SearchLoop:
    """Searches tenant big's notes in a thread of its own, with its own Seek, until stopped; keeps every failure."""

    def __init__(self, settings: Settings, embedder: Any) -> None:
        self.settings, self.embedder = settings, embedder
        self.searches = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="search-loop")

    def _run(self) -> None:
        with Seek(self.settings, embedder=self.embedder) as searcher:
            while not self._stop.is_set():
                try:
                    result = searcher.search("tides and ropes", k=10, collection=COLLECTION, tenant="big")
                    assert len(result.hits) == 10
                    self.searches += 1
                except BaseException as exc:  # every failure counts, a short result included
                    self.errors.append(exc)

    def __enter__(self) -> SearchLoop:
        self._thread.start()
        while self.searches == 0 and not self.errors and self._thread.is_alive():
            time.sleep(0.05)  # searching before maintenance starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.slow  # about a minute: the collection's ingest, then three doctor runs with recall
def test_doctor_reports_dead_rows_and_maintain_fixes_them_while_searches_run(
    ops: Seek, table: str, ops_settings: Settings, local_embedder: Any
) -> None:
    before = ops.doctor(COLLECTION, queries=10)
    buckets = {b.bucket: b for b in before.recall}
    assert set(buckets) == {"large", "mid", "exact"}
    assert buckets["large"].queries == 10 and 0 < buckets["large"].recall_at_10 <= 1
    assert buckets["exact"].tenants == 1 and buckets["exact"].queries == 0
    assert "mid (30 chunks" in _finding(before, "partial_indexes", f"collection {COLLECTION}").message
    assert _finding(before, "autovacuum", table).severity == "problem"  # turned off by the fixture
    assert _finding(before, "indexes", table).severity == "ok"

    ops.delete_collection(COLLECTION, tenant="gone")
    with Seek(ops_settings, embedder=NearbyVectors(local_embedder)) as bulk:
        bulk.ingest_documents(_notes("big", 250, version=1), tenant="big", collection=COLLECTION)
    dirty = _dead_rows_seen(ops, table, 450)
    dead = _finding(dirty, "dead_tuples", table)
    assert dead.severity == "problem" and dead.figures["dead_rows"] == 450  # gone's 200, big's 250 replaced
    assert "REINDEX INDEX CONCURRENTLY" in dead.advice
    assert dirty.status == "problem"

    planned = ops.maintain(COLLECTION)
    kinds = {(a.kind, a.subject) for a in planned.actions}
    assert ("reindex", f"{table}_hnsw_cosine") in kinds and ("vacuum", table) in kinds
    assert ("vacuum", "chunks") in kinds and ("autovacuum", table) in kinds
    assert not planned.applied and all(a.status == "planned" for a in planned.actions)
    assert ops.maintain(COLLECTION).actions == planned.actions  # a dry run changes nothing

    with SearchLoop(ops_settings, local_embedder) as loop:
        started = time.perf_counter()
        applied = ops.maintain(COLLECTION, apply=True)
        seconds = time.perf_counter() - started
        searched_during = loop.searches
    assert loop.errors == []
    assert searched_during > 0
    assert applied.applied and [a for a in applied.actions if a.status != "done"] == []

    after = _dead_rows_seen_cleared(ops, table)
    assert _finding(after, "dead_tuples", table).severity == "ok"
    assert _finding(after, "autovacuum", table).severity == "ok"
    assert _finding(after, "indexes", table).severity == "ok"
    recall_before = {b.bucket: round(b.recall_at_10, 3) for b in before.recall}
    recall_after = {b.bucket: round(b.recall_at_10, 3) for b in after.recall}
    assert set(recall_after) == set(recall_before)
    print(f"\nrecall@10 before {recall_before}, after {recall_after}")
    print(f"maintain --apply: {seconds:.1f} s, {searched_during} searches during it")


def _dead_rows_seen_cleared(seek: Seek, table: str) -> DoctorReport:
    deadline = time.monotonic() + 30
    while True:
        report = seek.doctor(COLLECTION, queries=10)
        if _finding(report, "dead_tuples", table).severity == "ok" or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def test_an_invalid_index_is_a_problem_the_cli_exits_on_and_maintain_rebuilds(
    ops: Seek, small_table: str, database_url: str, pgseek_home: Path
) -> None:
    index = f"{small_table}_hnsw_cosine"
    with psycopg.connect(database_url, autocommit=True) as conn:  # what a killed CREATE INDEX CONCURRENTLY leaves
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (index,))
    env = {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}
    result = pgseek(["doctor", "-c", SMALL, "--no-recall", "--json"], env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "problem"
    invalid = [f for f in report["findings"] if f["check"] == "indexes" and f["subject"] == index]
    assert invalid[0]["severity"] == "problem" and "pgseek maintain --apply" in invalid[0]["advice"]

    dry = pgseek(["maintain", "-c", SMALL], env)
    assert dry.returncode == 0, dry.stderr
    assert "REINDEX INDEX CONCURRENTLY" in dry.stdout and "dry run" in dry.stdout
    applied = pgseek(["maintain", "-c", SMALL, "--apply", "--json"], env)
    assert applied.returncode == 0, applied.stderr
    actions = json.loads(applied.stdout)["actions"]
    assert ("reindex", index, "done") in {(a["kind"], a["subject"], a["status"]) for a in actions}
    assert all(a["status"] == "done" for a in actions)
    healed = ops.doctor(SMALL, recall=False)
    assert _finding(healed, "indexes", small_table).severity == "ok"
    table_out = pgseek(["doctor", "-c", SMALL, "--no-recall"], env)
    assert table_out.returncode == 0, table_out.stderr
    assert "status: " in table_out.stdout


def test_one_maintain_apply_at_a_time(ops: Seek, small_table: str, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(123917224011117)")  # what a running maintain --apply holds
        with pytest.raises(ConflictError, match="another pgseek maintain --apply is running"):
            ops.maintain(SMALL, apply=True)
        assert not ops.maintain(SMALL).applied  # a dry run needs no lock
    assert ops.maintain(SMALL, apply=True).applied


def test_doctor_refuses_a_collection_that_does_not_exist(ops: Seek) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        ops.doctor("no-such-collection")
