"""`pgseek sync`, `pgseek worker`, `pgseek jobs` and the queue in `pgseek status`, as a user runs them: real
processes, real PostgreSQL, the real model. SIGTERM stops a worker cleanly and it leaves the live list."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgseek.db.connect import prepare_database
from tests.integration.test_cli import pgseek


@pytest.fixture(scope="module")
def env(database_url: str, pgseek_home: Path) -> dict[str, str]:
    return {
        "PGSEEK_DATABASE_URL": database_url,
        "PGSEEK_HOME": str(pgseek_home),
        "HF_HUB_OFFLINE": "1",
        "PGSEEK_WORKER_HEARTBEAT_S": "0.5",
        "PGSEEK_WORKER_POLL_S": "0.2",
    }


@pytest.mark.slow  # a dozen pgseek processes, each loading the model or the database: over a minute
def test_sync_worker_jobs_and_status(env: dict[str, str], database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE tickets (id int PRIMARY KEY, body text, status text)")
        conn.execute("INSERT INTO tickets VALUES (1, 'The printer on floor two jams on every job.', 'open')")
        conn.execute("INSERT INTO tickets VALUES (2, 'VPN drops every hour since the update.', 'open')")
    added = pgseek(
        [
            "sync",
            "add",
            "--table",
            "tickets",
            "--id-column",
            "id",
            "--text-column",
            "body",
            "--metadata-column",
            "status",
            "--collection",
            "tickets",
            "--json",
        ],
        env,
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["queued"] == 2
    listed = pgseek(["sync", "list", "--json"], env)
    assert [s["table_name"] for s in json.loads(listed.stdout)] == ["tickets"]

    drained = pgseek(["worker", "--drain", "--json"], env)
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["jobs_done"] == 2
    found = pgseek(["search", "printer jams", "--collection", "tickets", "--json", "-k", "1"], env)
    assert json.loads(found.stdout)["hits"][0]["document_id"] == "1"

    jobs = json.loads(pgseek(["jobs", "list", "--collection", "tickets", "--json"], env).stdout)
    queue = next(q for q in jobs["queues"] if q["collection"] == "tickets")
    assert (queue["pending"], queue["failed"], queue["done_recent"]) == (0, 0, 2)
    assert queue["lag_p50_s"] is not None and queue["lag_p99_s"] >= queue["lag_p50_s"]
    assert {j["state"] for j in jobs["jobs"]} == {"done"}
    status = json.loads(pgseek(["status", "--json"], env).stdout)
    assert any(q["collection"] == "tickets" for q in status["queues"])

    bad = pgseek(["sync", "add", "--table", "no_such_table", "--id-column", "id", "--text-column", "body"], env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no table 'no_such_table'")
    bogus = pgseek(["jobs", "list", "--state", "bogus"], env)
    assert bogus.returncode == 2 and "state must be one of" in bogus.stderr
    assert pgseek(["jobs", "purge", "--older-than", "0"], env).stdout.startswith("2 jobs purged")
    assert pgseek(["sync", "remove", "--table", "tickets"], env).returncode == 0


def test_sigterm_stops_a_worker_cleanly(env: dict[str, str], database_url: str) -> None:
    asyncio.run(prepare_database(database_url))  # the workers table exists before the worker beats
    worker = subprocess.Popen(
        [sys.executable, "-m", "pgseek", "worker"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while conn.execute("SELECT count(*) FROM workers").fetchone() == (0,) and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert out.startswith("stopped: 0 jobs done")
        assert conn.execute("SELECT count(*) FROM workers").fetchone() == (0,)
