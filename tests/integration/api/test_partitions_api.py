"""GET and POST /v1/collections/{c}/partitions: a partitioned collection's partitions and a tenant moved to its own
(decision 0031), operator key only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, OPERATOR_KEY, bearer


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    key = SecretStr(OPERATOR_KEY)  # no result cache: a search after a move must read the new partition
    return Settings(home=pgseek_home, database_url=database_url, operator_key=key, partitions=2, cache_results=False)


@pytest.fixture(scope="module")
async def corpus(client: httpx.AsyncClient, facade: AsyncSeek) -> dict[str, dict[str, str]]:
    keys = {}
    for tenant, count in (("acme", 9), ("globex", 4)):
        keys[tenant] = bearer((await facade.create_api_key(tenant)).key)
        docs = [{"id": f"{tenant}-{i}", "text": f"{tenant} harbour note {i}: tides and gulls."} for i in range(count)]
        response = await client.post("/v1/collections/docks/documents", json={"documents": docs}, headers=keys[tenant])
        assert response.json()["documents_added"] == count, response.text
    return keys


async def test_the_operator_lists_and_moves_a_tenant(
    client: httpx.AsyncClient, corpus: dict[str, dict[str, str]]
) -> None:
    before = await client.post("/v1/search", json={"query": "tides", "collection": "docks"}, headers=corpus["acme"])
    listed = await client.get("/v1/collections/docks/partitions", headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    assert listed.json()["buckets"] == 2 and all(p["tenant"] is None for p in listed.json()["partitions"])
    moved = await client.post("/v1/collections/docks/partitions", json={"tenant": "acme"}, headers=OPERATOR)
    assert moved.status_code == 200, moved.text
    assert moved.json()["rows_moved"] == 9
    own = [p for p in (await client.get("/v1/collections/docks/partitions", headers=OPERATOR)).json()["partitions"]]
    assert [p["tenant"] for p in own if p["tenant"]] == ["acme"]
    after = await client.post("/v1/search", json={"query": "tides", "collection": "docks"}, headers=corpus["acme"])
    assert [(h["document_id"], h["score"]) for h in after.json()["hits"]] == [
        (h["document_id"], h["score"]) for h in before.json()["hits"]
    ]
    again = await client.post("/v1/collections/docks/partitions", json={"tenant": "acme"}, headers=OPERATOR)
    assert again.status_code == 409 and "already has its own partition" in again.text


async def test_tenants_get_401_and_bad_input_4xx(client: httpx.AsyncClient, corpus: dict[str, dict[str, str]]) -> None:
    for headers in ({}, corpus["globex"]):
        assert (await client.get("/v1/collections/docks/partitions", headers=headers)).status_code == 401
        response = await client.post("/v1/collections/docks/partitions", json={"tenant": "globex"}, headers=headers)
        assert response.status_code == 401 and "acme" not in response.text
    missing = await client.get("/v1/collections/nowhere/partitions", headers=OPERATOR)
    assert missing.status_code == 404
    bad = await client.post("/v1/collections/docks/partitions", json={"tenant": ""}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "tenant"
    extra = await client.post("/v1/collections/docks/partitions", json={"tenant": "x", "y": 1}, headers=OPERATOR)
    assert extra.status_code == 422
