"""Outages and killed runs against the real components: a PostgreSQL of the test's own, killed with -9."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from pgseek.seek import Seek
from pgseek.types import Document
from tests.outage import corpus, count, kill_postmaster, own_server, wait_for, write_corpus


def _documents(url: str) -> int:
    try:
        return count(url, "SELECT count(*) FROM documents")
    except psycopg.Error:  # before the migrations have made the table
        return 0


@pytest.mark.slow
def test_an_outage_mid_ingest_stops_with_one_line_and_keeps_what_was_committed(
    tmp_path: Path, pgseek_home: Path
) -> None:
    docs = corpus(600)  # three write groups
    folder = write_corpus(tmp_path / "docs", docs)
    with own_server(tmp_path / "db") as server:
        url = server.start()
        env = {**os.environ, "PGSEEK_DATABASE_URL": url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "pgseek", "ingest", str(folder), "--collection", "outage"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: _documents(url) > 0, 300, "the first committed group")
        kill_postmaster(server)
        _, stderr = process.communicate(timeout=120)

        assert process.returncode == 2, stderr
        assert "Traceback" not in stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, stderr
        assert lines[0].startswith("error: database unavailable while ingesting: "), lines[0]
        found = re.search(r"; (\d+) documents? committed before the outage are kept", lines[0])
        assert found is not None, lines[0]
        kept = int(found.group(1))

        url = server.start()
        assert 0 < kept <= _documents(url) < len(docs)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert _documents(url) == len(docs)
        assert count(url, "SELECT count(*) FROM chunks") == len(docs)


def _vector_index(database_url: str, collection: str) -> tuple[str, bool | None]:
    """The collection's embeddings table, and whether its HNSW index is valid (None: there is none)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT v.table_name, c.distance FROM collections c JOIN embedding_versions v "
            "ON v.collection_id = c.id AND v.state = 'active' WHERE c.name = %s",
            (collection,),
        ).fetchone()
        assert row is not None
        table, distance = row
        state = conn.execute(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = %s",
            (f"{table}_hnsw_{distance}",),
        ).fetchone()
    return str(table), None if state is None else bool(state[0])


DOCS = [Document(d["id"], d["text"], title=d["title"]) for d in corpus(40, seed=11)]


def test_an_ingest_with_nothing_new_builds_the_index_a_killed_build_left_missing(seek: Seek, database_url: str) -> None:
    seek.ingest_documents(DOCS, collection="lost-index")
    table, valid = _vector_index(database_url, "lost-index")
    assert valid is True
    # What a kill during the first build leaves: the build's transaction rolled back, the rows committed.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP INDEX "{table}_hnsw_cosine"')
    report = seek.ingest_documents(DOCS, collection="lost-index")
    assert report.documents_unchanged == len(DOCS)
    assert _vector_index(database_url, "lost-index") == (table, True)


def test_init_rebuilds_an_invalid_index(seek: Seek, database_url: str) -> None:
    seek.ingest_documents(DOCS, collection="invalid-index")
    table, _ = _vector_index(database_url, "invalid-index")
    # An index whose build was killed half-way (CREATE INDEX CONCURRENTLY, REINDEX) stays behind, invalid.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '\"{table}_hnsw_cosine\"'::regclass")
    assert _vector_index(database_url, "invalid-index") == (table, False)
    assert seek.ensure_indexes() == [table]  # what `pgseek init` runs
    assert _vector_index(database_url, "invalid-index") == (table, True)
    assert seek.ensure_indexes() == []


@pytest.mark.parametrize("statement", ["SELECT 1/0", "SELECT pg_terminate_backend(pg_backend_pid())"])
def test_errors_are_classified_by_family(database_url: str, statement: str) -> None:
    import asyncio

    from pgseek.db.connect import translate_errors
    from pgseek.errors import DatabaseUnavailableError, DataRejectedError

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        async with conn, translate_errors("testing"):
            await conn.execute(statement)

    expected = DataRejectedError if "1/0" in statement else DatabaseUnavailableError
    with pytest.raises(expected) as caught:
        asyncio.run(run())
    assert "SELECT" not in str(caught.value)
