"""kill -9 of the embedded PostgreSQL under 16 searching clients of ``pgseek serve``, which owns that database.

Reports the requests that failed, how long after the kill and after the database was back (restarted by the
service) the first search succeeded, and asserts that the service recovered with no failure afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from pgseek.db.server import EmbeddedServer
from tests.integration.api.conftest import bearer, free_port
from tests.outage import corpus, kill_postmaster, wait_for, write_corpus

CLIENTS = 16
BEFORE_S = 5.0
AFTER_S = 5.0
QUERIES = ("glacier valley", "rocket engine", "coral reef", "storm harvest", "falcon salmon", "oak maple")


@dataclass(frozen=True, slots=True)
class Outcome:
    started: float
    ended: float
    ok: bool
    what: str


def _pgseek(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pgseek", *args], env=env, capture_output=True, text=True, timeout=600)


def _client(url: str, key: str, index: int, stop: threading.Event, outcomes: list[Outcome]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = index
        while not stop.is_set():
            body = {"query": QUERIES[i % len(QUERIES)], "collection": "load", "k": 5}
            i += 1
            started = time.monotonic()
            try:
                response = http.post("/v1/search", json=body, headers=bearer(key))
                ok, what = response.status_code == 200, str(response.status_code)
            except httpx.HTTPError as exc:
                ok, what = False, type(exc).__name__
            outcomes.append(Outcome(started, time.monotonic(), ok, what))


def _database_back(server: EmbeddedServer, after: float, stop: threading.Event) -> float | None:
    """When a fresh connection first succeeded after ``after`` (the service restarts the server)."""
    while not stop.is_set():
        uri = server.status().uri
        if uri is not None:
            try:
                with psycopg.connect(uri, connect_timeout=1) as conn:
                    conn.execute("SELECT 1")
                return time.monotonic()
            except psycopg.Error:
                pass
        time.sleep(0.01)
    return None


@pytest.mark.slow
def test_kill_9_of_the_database_under_16_clients(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "PGSEEK_DATABASE_URL"}
    env |= {"PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1", "PGSEEK_EMBEDDED_SHARED_BUFFERS": "128MB"}
    made = _pgseek(env, "keys", "create", "--tenant", "default", "--json")
    assert made.returncode == 0, made.stderr
    key = made.stdout.split('"key": "')[1].split('"')[0]
    folder = write_corpus(tmp_path / "docs", corpus(300, seed=9))
    ingested = _pgseek(env, "ingest", str(folder), "--collection", "load")
    assert ingested.returncode == 0, ingested.stderr

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "pgseek", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    server = EmbeddedServer(home, shared_buffers="128MB", maintenance_work_mem="1GB")
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 180, "pgseek serve to be ready")
        stop, outcomes = threading.Event(), []  # type: ignore[var-annotated]
        clients = [
            threading.Thread(target=_client, args=(url, key, i, stop, outcomes), daemon=True) for i in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        time.sleep(BEFORE_S)
        killed_at = time.monotonic()
        kill_postmaster(server)
        back: list[float | None] = []
        watcher = threading.Thread(target=lambda: back.append(_database_back(server, killed_at, stop)), daemon=True)
        watcher.start()
        wait_for(lambda: any(o.ok and o.started > killed_at for o in list(outcomes)), 120, "a successful search")
        time.sleep(AFTER_S)
        stop.set()
        for thread in [*clients, watcher]:
            thread.join(timeout=60)
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
        server.stop()

    done: list[Outcome] = list(outcomes)
    first_ok = min(o.ended for o in done if o.ok and o.started > killed_at)
    failed = [o for o in done if not o.ok]
    after_recovery = [o for o in failed if o.started > first_ok]
    database_back = back[0] if back else None
    slowest_failure = max((o.ended - o.started for o in failed), default=0.0)
    slow_failures = sum(o.ended - o.started > 1.0 for o in failed)
    kinds = sorted({o.what for o in failed})
    print(
        f"\n{CLIENTS} clients, kill -9 of the postmaster: {len(done)} requests, {len(failed)} failed ({kinds}), "
        f"slowest failure {slowest_failure:.3f} s ({slow_failures} over 1 s); "
        f"first success {first_ok - killed_at:.2f} s after the kill"
        + (f", {first_ok - database_back:.2f} s after the database was back" if database_back else "")
        + f"; failures after recovery: {len(after_recovery)}"
    )
    assert after_recovery == [], after_recovery[:5]
    assert all(o.what == "503" for o in failed), kinds
