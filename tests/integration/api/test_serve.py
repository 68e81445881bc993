"""``pgseek serve`` as users run it: a uvicorn process on a free local port, keys made by ``pgseek keys``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pgseek.config import Settings
from tests.integration.api.conftest import OPERATOR, bearer, free_port


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PGSEEK_DATABASE_URL": str(settings.database_url),
        "PGSEEK_HOME": str(settings.home),
        "HF_HUB_OFFLINE": "1",
        **({"PGSEEK_OPERATOR_KEY": settings.operator_key.get_secret_value()} if settings.operator_key else {}),
    }


def pgseek(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgseek", *args], capture_output=True, text=True, env=_env(settings), timeout=300
    )


class Served:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def log_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]


def serve(settings: Settings, tmp_path: Path, *extra: str) -> Iterator[Served]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pgseek", "serve", "--port", str(port), *extra],
            env=_env(settings),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"pgseek serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"pgseek serve never became ready: {log.read_text()}"
            try:
                if httpx.get(f"{served.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(settings, tmp_path_factory.mktemp("serve"))


def test_keys_create_prints_the_key_once_as_json(settings: Settings) -> None:
    made = pgseek(settings, "keys", "create", "--tenant", "acme", "--name", "ci", "--json")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert set(body) == {"id", "key", "tenant"} and body["tenant"] == "acme"
    listed = pgseek(settings, "keys", "list", "--tenant", "acme", "--json")
    assert body["key"] not in listed.stdout
    assert [k["id"] for k in json.loads(listed.stdout)] == [body["id"]]


def test_serve_answers_over_real_http_and_keys_revoke_locks_out(settings: Settings, server: Served) -> None:
    made = json.loads(pgseek(settings, "keys", "create", "--tenant", "globex", "--json").stdout)
    with httpx.Client(base_url=server.url, headers=bearer(made["key"]), timeout=60) as client:
        docs = {"documents": [{"id": "tea", "text": "Green tea leaves are steamed, black tea leaves oxidised."}]}
        assert client.post("/v1/collections/drinks/documents", json=docs).json()["documents_added"] == 1
        response = client.post("/v1/search", json={"query": "how is green tea made", "collection": "drinks"})
        assert response.status_code == 200 and response.json()["hits"][0]["document_id"] == "tea"
        request_id = response.headers["X-Request-ID"]
        assert client.get("/").status_code == 200 and "pgseek" in client.get("/").text
        assert client.get("/metrics").status_code == 401  # the tenant's key is not the operator key
        assert "pgseek_http_requests_total" in client.get("/metrics", headers=OPERATOR).text

        revoked = pgseek(settings, "keys", "revoke", made["id"])
        assert revoked.returncode == 0 and made["id"] in revoked.stdout
        assert client.get("/v1/collections").status_code == 401
    unknown = pgseek(settings, "keys", "revoke", "knosuchkey00")
    assert unknown.returncode == 2 and "no API key" in unknown.stderr

    logged = [line for line in server.log_lines() if line.get("request_id") == request_id]
    assert logged and logged[-1]["route"] == "/v1/search" and logged[-1]["tenant"] == "globex"
    assert logged[-1]["status"] == 200 and logged[-1]["level"] == "info"


@pytest.mark.slow
def test_serve_with_two_workers(settings: Settings, tmp_path: Path) -> None:
    made = json.loads(pgseek(settings, "keys", "create", "--tenant", "acme", "--json").stdout)
    for served in serve(settings, tmp_path, "--workers", "2"):
        with httpx.Client(base_url=served.url, headers=bearer(made["key"]), timeout=60) as client:
            statuses = {client.get("/v1/whoami").status_code for _ in range(20)}
        assert statuses == {200}
