"""Ctrl-C of ``pgseek ingest``: a clean stop that keeps every document already written and says so in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.outage import corpus, write_corpus

DOCUMENTS = 1500
EXIT_TIMEOUT_S = 30


def _count(url: str, statement: str) -> int:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
        return int(row[0]) if row else 0
    except psycopg.Error:  # the run has not created the tables yet
        return 0


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_what_was_written(database_url: str, pgseek_home: Path, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs", corpus(DOCUMENTS, seed=21))
    env = {
        **os.environ,
        "PGSEEK_DATABASE_URL": database_url,
        "PGSEEK_HOME": str(pgseek_home),
        "HF_HUB_OFFLINE": "1",
        "PGSEEK_EMBED_BATCH_SIZE": "16",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pgseek", "ingest", str(folder), "--collection", "interrupted"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while _count(database_url, "SELECT count(*) FROM documents") == 0:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = process.communicate(timeout=EXIT_TIMEOUT_S)
        stop_seconds = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    print(f"\npgseek ingest stopped {stop_seconds:.2f} s after SIGINT")
    assert process.returncode == 130, (stdout, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), stderr
    assert "Traceback" not in stderr + stdout
    kept = int(lines[0].removeprefix("interrupted: ").split(" documents kept")[0])
    assert 0 < kept < DOCUMENTS
    assert _count(database_url, "SELECT count(*) FROM documents") == kept
    # No half document: every document kept has its chunks, and every chunk its vector.
    table = "embeddings_v" + str(_count(database_url, "SELECT id FROM embedding_versions WHERE state = 'active'"))
    assert _count(database_url, "SELECT count(*) FROM chunks") == _count(database_url, f"SELECT count(*) FROM {table}")
    assert _count(database_url, "SELECT count(DISTINCT document_id) FROM chunks") == kept
    # Nothing is left claimed: running again finishes the job.
    again = subprocess.run(
        [sys.executable, "-m", "pgseek", "ingest", str(folder), "--collection", "interrupted", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert _count(database_url, "SELECT count(*) FROM documents") == DOCUMENTS
