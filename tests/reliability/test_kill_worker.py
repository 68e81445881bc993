"""kill -9 of ``pgseek worker`` mid-batch, then a draining worker: nothing lost, nothing duplicated. The documents,
chunks and vectors match those of a clean run exactly, and every job is done (issue 14)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.outage import corpus
from tests.reliability.test_kill_ingest import _database, _documents_now, _state

DOCUMENTS = 300
TRIALS = 2


def _env(url: str, home: Path) -> dict[str, str]:
    # A short lease and a quick heartbeat: the dead worker's jobs come back within seconds.
    return {
        **os.environ,
        "PGSEEK_DATABASE_URL": url,
        "PGSEEK_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PGSEEK_JOB_LEASE_S": "2",
        "PGSEEK_WORKER_HEARTBEAT_S": "0.5",
        "PGSEEK_WORKER_POLL_S": "0.2",
        "PGSEEK_JOB_BATCH": "16",
    }


def _pgseek(*args: str) -> list[str]:
    return [sys.executable, "-m", "pgseek", *args]


def _application_table(url: str, home: Path) -> None:
    """The application's table, synced into collection 'notes'."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id text PRIMARY KEY, title text, body text)")
        rows = [(d["id"], d["title"], d["text"]) for d in corpus(DOCUMENTS, seed=11, words=250)]
        conn.cursor().executemany("INSERT INTO notes VALUES (%s, %s, %s)", rows)
    added = subprocess.run(
        _pgseek(
            "sync",
            "add",
            "--table",
            "notes",
            "--id-column",
            "id",
            "--text-column",
            "body",
            "--title-column",
            "title",
            "--collection",
            "notes",
        ),
        env=_env(url, home),
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr


def _jobs(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {str(s): int(n) for s, n in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()}


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_batch_loses_and_duplicates_nothing(server_url: str, pgseek_home: Path) -> None:
    clean_url = _database(server_url, "worker_clean")
    _application_table(clean_url, pgseek_home)
    clean = subprocess.run(
        _pgseek("worker", "--drain"), env=_env(clean_url, pgseek_home), capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr
    expected = _state(clean_url)
    assert expected["documents"] == DOCUMENTS
    assert _jobs(clean_url) == {"done": DOCUMENTS}

    rng = random.Random(int(os.environ.get("PGSEEK_RELIABILITY_SEED", time.time())))
    for trial in range(TRIALS):
        url = _database(server_url, f"worker_killed_{trial}")
        _application_table(url, pgseek_home)
        worker = subprocess.Popen(
            _pgseek("worker", "--concurrency", "2"),
            env=_env(url, pgseek_home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Mid-batch: after the first batches are committed, while others are embedding.
        while _documents_now(url) == 0 and worker.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        assert worker.poll() is None, "the worker finished before it could be killed"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        held = _jobs(url).get("running", 0)
        final = subprocess.run(_pgseek("worker", "--drain"), env=_env(url, pgseek_home), capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
        assert _state(url) == expected, f"trial {trial}: {held} jobs were held by the killed worker"
        assert _jobs(url) == {"done": DOCUMENTS}
