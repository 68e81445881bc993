"""The caches as the HTTP service and the CLI show them: each search response says what the caches did, /metrics
counts hits, misses and errors per cache, and `pgseek search --json` hits a Redis another process filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, bearer
from tests.redis_server import RedisServer

SEARCH = {"query": "when does the ferry leave", "collection": "ferries", "mode": "hybrid"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


async def test_responses_and_metrics_say_what_the_caches_did(client: httpx.AsyncClient, facade: AsyncSeek) -> None:
    key = (await facade.create_api_key("ferry-co")).key
    documents = [{"id": "f1", "text": "The ferry leaves the harbour at seven every morning."}]
    response = await client.post(
        "/v1/collections/ferries/documents", json={"documents": documents}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    first = (await client.post("/v1/search", json=SEARCH, headers=bearer(key))).json()
    second = (await client.post("/v1/search", json=SEARCH, headers=bearer(key))).json()
    assert first["cache"] == {"embedding": "miss", "result": "miss"}
    assert second["cache"] == {"embedding": "hit", "result": "hit"}
    assert second["hits"] == first["hits"]
    keyword = (await client.post("/v1/search", json={**SEARCH, "mode": "keyword"}, headers=bearer(key))).json()
    assert keyword["cache"] == {"embedding": "off", "result": "miss"}
    text = (await client.get("/metrics", headers=OPERATOR)).text
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("pgseek_cache_"))
    assert float(lines['pgseek_cache_hits_total{cache="result"}']) >= 1
    assert float(lines['pgseek_cache_misses_total{cache="result"}']) >= 2
    assert float(lines['pgseek_cache_misses_total{cache="embedding"}']) >= 1
    assert lines['pgseek_cache_errors_total{cache="result"}'] == "0.0"


def test_the_cli_hits_a_result_another_process_left_in_redis(settings: Settings, redis_server: RedisServer) -> None:
    env = {
        **os.environ,
        "PGSEEK_DATABASE_URL": str(settings.database_url),
        "PGSEEK_HOME": str(settings.home),
        "PGSEEK_REDIS_URL": redis_server.url,
    }
    document = "Ferries to the island leave at nine; the last one returns at six."
    subprocess.run(
        [sys.executable, "-m", "pgseek", "ingest", "-", "--id", "island", "-c", "cli_ferries"],
        input=document,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    command = [sys.executable, "-m", "pgseek", "search", "ferry to the island", "-c", "cli_ferries", "--json"]
    runs = [
        json.loads(subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=True).stdout)
        for _ in range(2)
    ]
    assert [r["cache"] for r in runs] == [
        {"embedding": "miss", "result": "miss"},
        {"embedding": "hit", "result": "hit"},
    ]
    assert runs[0]["hits"] == runs[1]["hits"] and runs[0]["hits"][0]["document_id"] == "island"
    without = {**env, "PGSEEK_REDIS_URL": ""}  # in-process only: a fresh process has nothing cached
    alone = json.loads(
        subprocess.run(command, capture_output=True, text=True, env=without, timeout=300, check=True).stdout
    )
    assert alone["cache"] == {"embedding": "miss", "result": "miss"}
