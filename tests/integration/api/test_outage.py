"""The service through a database outage: fail fast while it is down, serve again as soon as it is back, restart
the embedded server it owns. Real uvicorn servers, a PostgreSQL of the test's own killed with -9."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.db.server import EmbeddedServer
from pgseek.seek import Seek
from pgseek.types import Document
from tests.integration.api.conftest import LiveServer, bearer
from tests.outage import corpus, count, kill_postmaster, own_server, wait_for

# Generous: far above a fast failure, far below the 30 s the pool used to keep a request waiting.
FAIL_FAST_S = 10.0
SEARCH = {"query": "glacier valley", "collection": "outage", "k": 3}


def _prepare(settings: Settings, embedder: Any) -> str:
    """An API key and a few documents to search."""
    with Seek(settings, embedder=embedder) as seek:
        seek.ingest_documents([Document(d["id"], d["text"]) for d in corpus(30)], collection="outage")
        return seek.create_api_key("default").key


def _search(http: httpx.Client, key: str, timeout: float = FAIL_FAST_S) -> httpx.Response:
    return http.post("/v1/search", json=SEARCH, headers=bearer(key), timeout=timeout)


def _serves(http: httpx.Client, key: str) -> bool:
    try:
        return _search(http, key).status_code == 200
    except httpx.TransportError:
        return False


def test_an_outage_fails_fast_with_503_and_ends_when_the_database_is_back(
    tmp_path: Path, pgseek_home: Path, local_embedder: Any
) -> None:
    with own_server(tmp_path / "db") as server:
        settings = Settings(home=pgseek_home, database_url=server.start())
        key = _prepare(settings, local_embedder)
        with LiveServer(create_app(settings, embedder=local_embedder)) as live, httpx.Client(base_url=live.url) as http:
            assert _search(http, key).status_code == 200

            # An outage during an HTTP ingest: 503 with the error shape, and the committed groups stay.
            answer: dict[str, httpx.Response] = {}
            batch = {"documents": [{"id": d["id"], "text": d["text"]} for d in corpus(1000, seed=3)]}
            url = settings.database_url
            assert url is not None
            before = count(url, "SELECT count(*) FROM documents")
            ingest = threading.Thread(
                target=lambda: answer.setdefault(
                    "r", http.post("/v1/collections/big/documents", json=batch, headers=bearer(key), timeout=300)
                )
            )
            ingest.start()
            wait_for(lambda: count(url, "SELECT count(*) FROM documents") > before, 300, "a committed group")
            kill_postmaster(server)
            ingest.join(timeout=120)
            response = answer["r"]
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "database_unavailable"
            assert "committed before the outage are kept" in error["message"]

            # While it is down: every request fails fast, and /readyz says why.
            for _ in range(3):
                down = _search(http, key)
                assert down.status_code == 503 and down.json()["error"]["code"] == "database_unavailable"
            ready = http.get("/readyz", timeout=FAIL_FAST_S)
            assert ready.status_code == 503 and ready.json()["ready"] is False

            server.start()
            wait_for(lambda: _serves(http, key), 60, "the service to serve again")
            # No dead connection of the old server is handed out afterwards.
            assert [_search(http, key).status_code for _ in range(20)] == [200] * 20
            assert http.get("/readyz", timeout=FAIL_FAST_S).status_code == 200


def test_the_service_restarts_the_embedded_database_it_owns(tmp_path: Path, local_embedder: Any) -> None:
    settings = Settings(home=tmp_path / "home", database_url=None)
    owned = EmbeddedServer(settings.home, shared_buffers="128MB", maintenance_work_mem="256MB")
    try:
        with LiveServer(create_app(settings, embedder=local_embedder)) as live, httpx.Client(base_url=live.url) as http:
            key = _prepare(settings, local_embedder)
            assert _search(http, key).status_code == 200
            killed = kill_postmaster(owned)
            wait_for(lambda: _serves(http, key), 60, "the service to restart its database")
            assert owned.status().pid not in (None, killed)
            assert [_search(http, key).status_code for _ in range(20)] == [200] * 20
    finally:
        owned.stop()
