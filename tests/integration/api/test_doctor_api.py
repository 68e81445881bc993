"""GET /v1/doctor: the doctor's report for the operator key only (it names every tenant and its size)."""

from __future__ import annotations

import httpx
import pytest

from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, OPERATOR_KEY, bearer


@pytest.fixture(scope="module")
async def tenant_key(facade: AsyncSeek) -> dict[str, str]:
    key = bearer((await facade.create_api_key("acme")).key)
    return key


@pytest.fixture(scope="module")
async def corpus(client: httpx.AsyncClient, tenant_key: dict[str, str]) -> None:
    docs = [{"id": f"note-{i}", "text": f"Harbour note {i}: tides, ropes and gulls."} for i in range(5)]
    response = await client.post("/v1/collections/harbour/documents", json={"documents": docs}, headers=tenant_key)
    assert response.json()["documents_added"] == 5, response.text


@pytest.mark.usefixtures("corpus")
async def test_the_operator_reads_the_report(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/doctor", params={"collection": "harbour", "queries": 3}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] in {"ok", "warn", "problem"}
    checks = {f["check"] for f in report["findings"]}
    assert {"versions", "indexes", "memory", "dead_tuples", "autovacuum", "build_memory", "recall"} <= checks
    # Five chunks: searched exactly (at most PGSEEK_EXACT_SEARCH_BELOW), nothing to measure.
    assert [(b["bucket"], b["tenants"], b["queries"]) for b in report["recall"]] == [("exact", 1, 0)]
    quick = await client.get("/v1/doctor", params={"recall": "false"}, headers=OPERATOR)
    assert quick.status_code == 200 and quick.json()["recall"] == []


@pytest.mark.usefixtures("corpus")
async def test_tenants_and_strangers_get_401(client: httpx.AsyncClient, tenant_key: dict[str, str]) -> None:
    for headers in ({}, tenant_key, bearer(OPERATOR_KEY + "x")):
        response = await client.get("/v1/doctor", headers=headers)
        assert response.status_code == 401 and "operator" in response.json()["error"]["message"]
        assert "harbour" not in response.text and "acme" not in response.text


async def test_bad_parameters_and_unknown_collections(client: httpx.AsyncClient) -> None:
    bad = await client.get("/v1/doctor", params={"queries": 0}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "queries"
    missing = await client.get("/v1/doctor", params={"collection": "nowhere"}, headers=OPERATOR)
    assert missing.status_code == 404 and "nowhere" in missing.json()["error"]["message"]
