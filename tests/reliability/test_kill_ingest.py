"""kill -9 of ``pgseek ingest`` at random moments, then one more ingest: nothing lost, nothing duplicated.

Each trial kills a first run somewhere (loading the model, embedding, writing a group, building the vector index);
the run after it must leave exactly what one clean run leaves, with a valid vector index.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.outage import corpus, write_corpus

TRIALS = 5
DOCUMENTS = 700


def _database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


def _command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "pgseek", "ingest", str(folder), "--collection", "killed"]


def _env(url: str, home: Path) -> dict[str, str]:
    return {**os.environ, "PGSEEK_DATABASE_URL": url, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def _state(url: str) -> dict[str, int | bool]:
    with psycopg.connect(url, autocommit=True) as conn:

        def one(statement: str) -> int:
            row = conn.execute(statement).fetchone()
            assert row is not None
            return int(row[0])

        (table,) = conn.execute("SELECT table_name FROM embedding_versions WHERE state = 'active'").fetchone() or ("",)
        assert re.fullmatch(r"embeddings_v\d+", str(table))
        valid = conn.execute(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = %s",
            (f"{table}_hnsw_cosine",),
        ).fetchone()
        return {
            "documents": one("SELECT count(*) FROM documents"),
            "chunks": one("SELECT count(*) FROM chunks"),
            "vectors": one(f"SELECT count(*) FROM {table}"),
            "duplicate_chunks": one("SELECT count(*) - count(DISTINCT (document_id, position)) FROM chunks"),
            "chunks_without_vector": one(
                f"SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT FROM {table} e WHERE e.chunk_id = c.id)"
            ),
            "vectors_without_chunk": one(
                f"SELECT count(*) FROM {table} e WHERE NOT EXISTS (SELECT FROM chunks c WHERE c.id = e.chunk_id)"
            ),
            "index_valid": bool(valid and valid[0]),
        }


def _documents_now(url: str) -> int:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
        return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


@pytest.mark.slow
def test_kill_9_of_ingest_at_random_moments_loses_and_duplicates_nothing(
    server_url: str, pgseek_home: Path, tmp_path: Path
) -> None:
    folder = write_corpus(tmp_path / "docs", corpus(DOCUMENTS, seed=5))
    clean_url = _database(server_url, "reliability_clean")
    started = time.monotonic()
    clean = subprocess.run(_command(folder), env=_env(clean_url, pgseek_home), capture_output=True, text=True)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = _state(clean_url)
    assert expected["documents"] == DOCUMENTS and expected["index_valid"]

    rng = random.Random(int(os.environ.get("PGSEEK_RELIABILITY_SEED", time.time())))
    trials: list[tuple[float, int, int]] = []
    for trial in range(TRIALS):
        # A fresh database per trial, so that each kill can land anywhere in a first run: model load, embedding,
        # a group's transaction, the first index build.
        killed_url = _database(server_url, f"reliability_killed_{trial}")
        process = subprocess.Popen(
            _command(folder), env=_env(killed_url, pgseek_home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        launched = time.monotonic()
        if trial % 2:
            # Every other trial aims at the writes: the window between the first committed group and the last is a
            # few seconds of a run that spends most of its time loading the model and building the index.
            while _documents_now(killed_url) == 0 and process.poll() is None:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            time.sleep(rng.uniform(0.2, clean_seconds))
        delay = time.monotonic() - launched
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        committed = _documents_now(killed_url)
        final = subprocess.run(_command(folder), env=_env(killed_url, pgseek_home), capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
        got = _state(killed_url)
        lost = int(expected["documents"]) - int(got["documents"])
        trials.append((round(delay, 2), committed, lost))
        assert got == expected, (trial, delay, got)
    print(
        f"\nkill -9 of pgseek ingest: {TRIALS} trials (clean run {clean_seconds:.1f} s); "
        f"(kill after s, documents committed at the kill, documents lost after re-ingest): {trials}"
    )
