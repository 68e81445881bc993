"""GET /v1/capacity: the deployment measured and placed on the framework of docs/capacity.md, operator key only."""

from __future__ import annotations

import httpx
import pytest

from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, OPERATOR_KEY, bearer


@pytest.fixture(scope="module")
async def corpus(client: httpx.AsyncClient, facade: AsyncSeek) -> None:
    key = bearer((await facade.create_api_key("acme")).key)
    docs = [{"id": f"note-{i}", "text": f"Harbour note {i}: tides, ropes and gulls."} for i in range(8)]
    response = await client.post("/v1/collections/harbour/documents", json={"documents": docs}, headers=key)
    assert response.json()["documents_added"] == 8, response.text


@pytest.mark.usefixtures("corpus")
async def test_the_operator_reads_where_the_deployment_stands(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/capacity", params={"queries": 5, "p99_target_ms": 500}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    report = response.json()
    measured = report["measured"]
    assert measured["vectors"] >= 8 and measured["dimensions"] == 384 and measured["index_bytes"] > 0
    assert measured["queries"] == 5 and 0 < measured["p50_ms"] <= measured["p99_ms"]
    assert [s["factor"] for s in report["scenarios"]] == [1, 10, 100]
    now = report["scenarios"][0]
    assert now["range"] == "pgvector" and now["memory"] == "shared_buffers" and now["reasons"]
    assert report["scenarios"][2]["index_bytes"] == 100 * measured["index_bytes"]


async def test_tenants_get_401_and_bad_parameters_422(client: httpx.AsyncClient, facade: AsyncSeek) -> None:
    tenant = bearer((await facade.create_api_key("someone")).key)
    for headers in ({}, tenant, bearer(OPERATOR_KEY + "x")):
        response = await client.get("/v1/capacity", headers=headers)
        assert response.status_code == 401 and "vectors" not in response.text
    bad = await client.get("/v1/capacity", params={"queries": 0}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "queries"
