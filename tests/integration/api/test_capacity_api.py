"""GET /v1/capacity: the deployment measured and placed on the framework of docs/capacity.md, operator key only;
with what read replicas and partitioning by tenant change (a partitioned collection beside an unpartitioned one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from pgseek.types import Document
from tests.integration.api.conftest import OPERATOR, OPERATOR_KEY, bearer

NEXT_STEPS = {
    "none",
    "read replicas",
    "partition by tenant",
    "distributed PostgreSQL (shard by tenant)",
    "dedicated vector database",
}


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    # Collections made through the app are partitioned by tenant (2 hash buckets for the tenants without their own).
    return Settings(home=pgseek_home, database_url=database_url, operator_key=SecretStr(OPERATOR_KEY), partitions=2)


@pytest.fixture(scope="module")
async def corpus(client: httpx.AsyncClient, facade: AsyncSeek, settings: Settings, local_embedder: Any) -> None:
    for tenant, count in (("acme", 8), ("globex", 3)):
        key = bearer((await facade.create_api_key(tenant)).key)
        docs = [{"id": f"note-{i}", "text": f"Harbour note {i}: tides, ropes and gulls."} for i in range(count)]
        response = await client.post("/v1/collections/harbour/documents", json={"documents": docs}, headers=key)
        assert response.json()["documents_added"] == count, response.text
    moved = await client.post("/v1/collections/harbour/partitions", json={"tenant": "acme"}, headers=OPERATOR)
    assert moved.status_code == 200 and moved.json()["rows_moved"] >= 8, moved.text
    # And one collection unpartitioned, made with the default settings on the same database.
    async with AsyncSeek(settings.model_copy(update={"partitions": 0}), embedder=local_embedder) as plain:
        quay = [Document(f"quay-{i}", f"Quay note {i}: cranes and cargo.") for i in range(5)]
        assert (await plain.ingest_documents(quay, collection="plain", tenant="acme")).documents_added == 5


@pytest.mark.usefixtures("corpus")
async def test_the_operator_reads_where_the_deployment_stands(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/capacity", params={"queries": 5, "p99_target_ms": 500}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    report = response.json()
    measured = report["measured"]
    assert measured["vectors"] >= 16 and measured["dimensions"] == 384 and measured["index_bytes"] > 0
    assert measured["queries"] == 5 and 0 < measured["p50_ms"] <= measured["p99_ms"]
    assert [s["factor"] for s in report["scenarios"]] == [1, 10, 100]
    now = report["scenarios"][0]
    assert now["range"] == "pgvector" and now["memory"] == "shared_buffers" and now["reasons"]
    assert report["scenarios"][2]["index_bytes"] == 100 * measured["index_bytes"]
    # No replicas here: none in rotation, and the reasons say what r of them on machines of their own would give.
    assert (measured["read_replicas"], measured["replicas_in_rotation"]) == (0, 0)
    assert any(r.startswith("no read replicas: about ") for r in now["reasons"])
    # harbour is partitioned by tenant, plain is not.
    assert (measured["collections"], measured["partitioned_collections"]) == (2, 1)
    assert 0 < measured["largest_graph_bytes"] < measured["index_bytes"]
    assert 0 < measured["tenant_graph_bytes"] <= measured["largest_graph_bytes"]
    assert measured["largest_tenant_vectors"] >= 8
    for scenario in report["scenarios"]:
        assert scenario["next_step"] in NEXT_STEPS
        assert scenario["largest_graph_bytes"] == scenario["factor"] * measured["largest_graph_bytes"]
        assert any(r.startswith("next step: ") for r in scenario["reasons"])
        assert any("1 of 2 collection(s) partitioned by tenant" in r for r in scenario["reasons"])
    assert now["next_step"] == "none"


async def test_tenants_get_401_and_bad_parameters_422(client: httpx.AsyncClient, facade: AsyncSeek) -> None:
    tenant = bearer((await facade.create_api_key("someone")).key)
    for headers in ({}, tenant, bearer(OPERATOR_KEY + "x")):
        response = await client.get("/v1/capacity", headers=headers)
        assert response.status_code == 401 and "vectors" not in response.text
    bad = await client.get("/v1/capacity", params={"queries": 0}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "queries"
