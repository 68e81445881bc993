"""Tenant isolation over HTTP: two keys, two tenants, every endpoint. A key reaches its own tenant's documents only,
whatever its path, body or filters name."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, OPERATOR_KEY, bearer

TEXTS = {
    "acme": "Acme rockets burn liquid oxygen; the launch is on Tuesday.",
    "globex": "Globex sells volcano lairs with a monorail and a shark tank.",
}
QUERIES = ("when is the rocket launch", "volcano lair with monorail")


@pytest.fixture(scope="module")
async def keys(facade: AsyncSeek) -> dict[str, dict[str, str]]:
    return {tenant: bearer((await facade.create_api_key(tenant)).key) for tenant in ("acme", "globex")}


@pytest.fixture(scope="module")
async def corpus(client: httpx.AsyncClient, keys: dict[str, dict[str, str]]) -> None:
    for tenant, headers in keys.items():
        docs = [
            {
                "id": f"{tenant}-{i}",
                "title": f"{tenant} {i}",
                "text": f"{TEXTS[tenant]} Note {i}.",
                "metadata": {"tenant": tenant, "owner": tenant, "n": i},
            }
            for i in range(3)
        ]
        docs.append({"id": "same-id", "text": f"{tenant} owns this version of same-id."})
        response = await client.post("/v1/collections/shared/documents", json={"documents": docs}, headers=headers)
        assert response.json()["documents_added"] == 4, response.text
        upload = [("files", ("notes.md", f"# {tenant} notes\n\n{TEXTS[tenant]}".encode(), "text/markdown"))]
        response = await client.post("/v1/collections/shared/files", files=upload, headers=headers)
        assert response.json()["documents_added"] == 1, response.text
    private = {"documents": [{"id": "plan", "text": "Acme's secret plan: rockets on the moon.", "metadata": {}}]}
    response = await client.post("/v1/collections/acme-private/documents", json=private, headers=keys["acme"])
    assert response.status_code == 200


async def _search(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> list[str]:
    response = await client.post("/v1/search", json={"k": 50, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return [hit["document_id"] for hit in response.json()["hits"]]


@pytest.mark.usefixtures("corpus")
async def test_whoami_names_the_keys_tenant(client: httpx.AsyncClient, keys: dict[str, dict[str, str]]) -> None:
    for tenant, headers in keys.items():
        assert (await client.get("/v1/whoami", headers=headers)).json()["tenant"] == tenant


@pytest.mark.usefixtures("corpus")
async def test_collections_list_and_stats_show_only_the_callers_part(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    listed = {
        tenant: {c["name"]: c for c in (await client.get("/v1/collections", headers=h)).json()["collections"]}
        for tenant, h in keys.items()
    }
    assert set(listed["acme"]) == {"shared", "acme-private"}
    assert set(listed["globex"]) == {"shared"}
    assert listed["acme"]["shared"]["documents"] == listed["globex"]["shared"]["documents"] == 5
    stats = await client.get("/v1/collections/acme-private", headers=keys["globex"])
    assert stats.status_code == 404


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
async def test_search_sees_only_the_callers_documents(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], mode: str
) -> None:
    for (tenant, headers), own_query in zip(keys.items(), QUERIES, strict=True):
        for query in QUERIES:  # its own topic, and the other tenant's
            found = await _search(client, headers, query=query, mode=mode, collection="shared")
            assert all(d.startswith(tenant) or d in ("same-id", "notes.md") for d in found), found
            assert found or query != own_query
    # The same external id in both tenants: each sees its own version.
    for tenant, headers in keys.items():
        hits = (
            await client.post(
                "/v1/search",
                json={"query": "owns this version", "collection": "shared", "mode": mode, "k": 50},
                headers=headers,
            )
        ).json()["hits"]
        texts = [h["chunk"] for h in hits if h["document_id"] in ("same-id", "notes.md")]
        assert texts and all(tenant in t for t in texts), texts


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize(
    "filters",
    [
        {"metadata": [{"key": "tenant", "op": "eq", "value": "acme"}]},
        {"metadata": [{"key": "owner", "op": "in", "value": ["acme", "initech"]}]},
        {"contains": {"tenant": "acme"}},
        {"document_ids": ["acme-0", "acme-1", "acme-2"]},
        {"metadata": [{"key": "n", "op": "gte", "value": 0}], "document_ids": ["acme-0"]},
    ],
)
async def test_a_filter_naming_the_other_tenant_returns_nothing(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], filters: dict[str, Any]
) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        body = {"query": QUERIES[0], "mode": mode, "collection": "shared", "filters": filters}
        assert await _search(client, keys["globex"], **body) == []
        assert await _search(client, keys["acme"], **body) != []  # the same filter does match, for its tenant


@pytest.mark.usefixtures("corpus")
async def test_documents_of_another_tenant_cannot_be_read_or_deleted(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    for path in ("/v1/collections/shared/documents/acme-1", "/v1/collections/acme-private/documents/plan"):
        assert (await client.get(path, headers=keys["globex"])).status_code == 404
        assert (await client.delete(path, headers=keys["globex"])).status_code == 404
        assert (await client.get(path, headers=keys["acme"])).status_code == 200
    for tenant, headers in keys.items():
        same = (await client.get("/v1/collections/shared/documents/same-id", headers=headers)).json()
        assert same["text"].startswith(tenant)
        notes = (await client.get("/v1/collections/shared/documents/notes.md", headers=headers)).json()
        assert notes["title"] == f"{tenant} notes"


@pytest.mark.usefixtures("corpus")
async def test_listing_a_collections_documents_shows_only_the_callers_ids_and_counts(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    for tenant, headers in keys.items():
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            response = await client.get("/v1/collections/shared/documents", params=params, headers=headers)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["total"] == 5 and page["collection"] == "shared"
            assert set(page["documents"][0]) == {"id", "title", "source", "chunks", "updated_at"}
            seen += [d["id"] for d in page["documents"]]
            if page["next_after"] is None:
                break
            params["after"] = page["next_after"]
        assert seen == [f"{tenant}-0", f"{tenant}-1", f"{tenant}-2", "notes.md", "same-id"]
    by_prefix = await client.get("/v1/collections/shared/documents", params={"prefix": "acme-"}, headers=keys["globex"])
    assert by_prefix.json()["documents"] == [] and by_prefix.json()["total"] == 0
    private = await client.get("/v1/collections/acme-private/documents", headers=keys["globex"])
    assert private.status_code == 404 and "acme-private" in private.json()["error"]["message"]
    assert "plan" not in private.text


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "ten"}, "limit"), ({"after": ""}, "after")],
)
async def test_bad_paging_values_are_422_naming_the_parameter(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], params: dict[str, Any], field: str
) -> None:
    response = await client.get("/v1/collections/shared/documents", params=params, headers=keys["acme"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.usefixtures("corpus")
async def test_joining_a_collection_by_name_shows_none_of_its_documents(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    joined = await client.post("/v1/collections", json={"name": "acme-private"}, headers=keys["globex"])
    assert joined.status_code == 201 and joined.json()["documents"] == 0
    assert await _search(client, keys["globex"], query="secret plan", collection="acme-private", mode="hybrid") == []
    assert await _search(client, keys["acme"], query="secret plan", collection="acme-private") == ["plan"]
    left = await client.delete(
        "/v1/collections/acme-private", params={"confirm": "acme-private"}, headers=keys["globex"]
    )
    assert left.json()["documents_deleted"] == 0
    assert (await client.get("/v1/collections/acme-private", headers=keys["acme"])).json()["documents"] == 1


@pytest.mark.usefixtures("corpus")
async def test_deleting_a_shared_collection_deletes_only_the_callers_documents(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    response = await client.delete("/v1/collections/shared", params={"confirm": "shared"}, headers=keys["globex"])
    assert response.json() == {"name": "shared", "documents_deleted": 5}
    assert (await client.get("/v1/collections/shared", headers=keys["globex"])).status_code == 404
    assert (await client.get("/v1/collections/shared", headers=keys["acme"])).json()["documents"] == 5
    assert await _search(client, keys["acme"], query=QUERIES[0], collection="shared") != []


@pytest.mark.usefixtures("corpus")
async def test_ask_answers_only_from_the_callers_documents(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    question = {"question": "When is the rocket launch?", "collection": "shared"}
    own = (await client.post("/v1/ask", json=question, headers=keys["acme"])).json()
    assert not own["refused"] and {c["document_id"][:4] for c in own["citations"]} <= {"acme", "same", "note"}
    other = (await client.post("/v1/ask", json=question, headers=keys["globex"])).json()
    assert all(not c["document_id"].startswith("acme") for c in other["citations"])
    assert all("Acme" not in c["chunk"] for c in other["citations"])
    for filters in ({"document_ids": ["acme-0", "acme-1"]}, {"contains": {"tenant": "acme"}}):
        for accept in ("application/json", "text/event-stream"):
            response = await client.post(
                "/v1/ask", json={**question, "filters": filters}, headers={**keys["globex"], "Accept": accept}
            )
            body = response.text.rsplit("data: ", 1)[-1] if accept == "text/event-stream" else response.text
            answer = json.loads(body)
            assert answer["refused"] is True and answer["citations"] == []


@pytest.mark.usefixtures("corpus")
async def test_metrics_are_for_the_operator_key_only(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    """/metrics counts every tenant's documents: no key, a tenant's key, or a near miss gets 401 and no figure."""
    for headers in ({}, keys["globex"], keys["acme"], bearer(OPERATOR_KEY + "x"), bearer(OPERATOR_KEY[:-1])):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert "operator" in response.json()["error"]["message"]
        assert "pgseek_" not in response.text and "acme" not in response.text and "shared" not in response.text
    operator = await client.get("/metrics", headers=OPERATOR)
    assert operator.status_code == 200
    assert 'pgseek_collection_documents{collection="shared"}' in operator.text


async def test_without_an_operator_key_metrics_are_closed(settings: Settings, local_embedder: Any) -> None:
    app = create_app(settings.model_copy(update={"operator_key": None}), embedder=local_embedder)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pgseek.test") as client,
    ):
        response = await client.get("/metrics", headers=OPERATOR)
        assert response.status_code == 401 and "PGSEEK_OPERATOR_KEY" in response.json()["error"]["message"]
        assert (await client.get("/healthz")).status_code == 200  # the orchestrators' endpoints stay open


def test_a_tenant_api_key_cannot_be_made_the_operator_key(settings: Settings) -> None:
    with pytest.raises(ValueError, match="tenant API key"):
        Settings(operator_key="pgseek_k3f9a0c12b4e7_XqAbCdEfGhIjKlMnOpQrStUv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 24"):
        Settings(operator_key="short")  # type: ignore[arg-type]
