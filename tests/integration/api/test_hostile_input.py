"""Hostile input against the /v1 API over ASGI with httpx, sent as an attacker (or a careless client) would send it:
dot segments in ids, lone surrogates, deep nesting, huge numbers, NaN, oversized uploads and filter lists. Each gets a
4xx that names the field; nothing is half stored and nothing else is lost."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.filters import MAX_FILTER_VALUES
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import bearer
from tests.integration.api.test_api import assert_error

KEEP = {"id": "keep", "text": "A lighthouse warns ships of rocks with a rotating lamp.", "metadata": {"year": 2020}}
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture(scope="module")
async def key(facade: AsyncSeek) -> str:
    return (await facade.create_api_key("hostile", name="tests")).key


async def _ingest(client: httpx.AsyncClient, key: str, collection: str, *docs: dict[str, Any]) -> httpx.Response:
    url = f"/v1/collections/{collection}/documents"
    return await client.post(url, json={"documents": list(docs)}, headers=bearer(key))


async def _count(client: httpx.AsyncClient, key: str, collection: str) -> int:
    response = await client.get(f"/v1/collections/{collection}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return int(response.json()["documents"])


async def _raw(client: httpx.AsyncClient, key: str, url: str, body: str) -> httpx.Response:
    """A body sent as text: JSON with NaN, lone-surrogate escapes or huge numbers, which json= would not write."""
    headers = {**bearer(key), "Content-Type": "application/json"}
    return await client.post(url, content=body.encode(), headers=headers)


@pytest.mark.parametrize("bad_id", ["..", ".", "x/..", "../x", "a/./b", "%2e%2e", "x\\..", "\ud800"])
async def test_ids_that_could_alias_a_route_are_refused_at_ingest(
    client: httpx.AsyncClient, key: str, bad_id: str
) -> None:
    body = json.dumps({"documents": [{"id": bad_id, "text": "Dot segments in an id."}]})
    response = await _raw(client, key, "/v1/collections/dots/documents", body)
    # A lone surrogate is refused by the request model itself (validation_error), the rest by the record reader.
    code = "validation_error" if bad_id == "\ud800" else "invalid_document"
    error = assert_error(response, 422, code, "documents.0.id")
    assert "dot segment" in error["message"] or "unicode" in error["message"]


async def test_a_dot_dot_id_cannot_delete_or_read_the_collection(client: httpx.AsyncClient, key: str) -> None:
    assert (await _ingest(client, key, "victim", KEEP)).status_code == 200
    # httpx, like every RFC 3986 client, removes dot segments: these requests reach /v1/collections/victim.
    for path in ("/v1/collections/victim/documents/..", "/v1/collections/victim/documents/x/../.."):
        deleted = await client.delete(path, headers=bearer(key))
        assert deleted.status_code == 422, deleted.text
        assert deleted.json()["error"]["field"] == "confirm"
        assert "?confirm=victim" in deleted.json()["error"]["message"]
    assert await _count(client, key, "victim") == 1
    wrong = await client.delete("/v1/collections/victim", params={"confirm": "other"}, headers=bearer(key))
    assert_error(wrong, 422, "invalid_input", "confirm")
    assert await _count(client, key, "victim") == 1
    # A request that keeps its dot segments (curl --path-as-is) reaches the document route and is refused there.
    raw = await client.get("/v1/collections/victim/documents/%2E%2E", headers=bearer(key))
    assert_error(raw, 422, "invalid_input", "document_id")
    done = await client.delete("/v1/collections/victim", params={"confirm": "victim"}, headers=bearer(key))
    assert done.json() == {"name": "victim", "documents_deleted": 1}


async def test_one_bad_jsonl_line_is_one_failure(client: httpx.AsyncClient, key: str) -> None:
    lines = [
        json.dumps({"id": "good1", "text": "Rocket engines burn kerosene."}),
        '{"id": "sur", "text": "broken \\ud800 text"}',
        '{"id": "deep", "text": "nested", "metadata": {"a": ' + DEEP + "}}",
        DEEP,
        '{"id": "meta", "text": "surrogate key", "metadata": {"\\udc00": 1}}',
        '{"id": "nan", "text": "not a number", "metadata": {"x": NaN}}',
        '{"id": "big", "text": "huge number", "metadata": {"x": ' + "9" * 5000 + "}}",
        '{"id": "..", "text": "a dot segment"}',
        json.dumps({"id": "good2", "text": "Sourdough rises slowly."}),
    ]
    files = [("files", ("corpus.jsonl", "\n".join(lines).encode(), "application/jsonl"))]
    response = await client.post("/v1/collections/lines/files", files=files, headers=bearer(key))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["documents_added"] == 2
    failed = {f["path"]: f["error"] for f in report["failures"]}
    assert sorted(failed) == [f"corpus.jsonl:{n}" for n in range(2, 9)]
    assert "surrogate" in failed["corpus.jsonl:2"] and "text" in failed["corpus.jsonl:2"]
    assert "deep" in failed["corpus.jsonl:3"] and "deep" in failed["corpus.jsonl:4"]
    assert "NaN" in failed["corpus.jsonl:6"]
    assert "dot segment" in failed["corpus.jsonl:8"]
    assert await _count(client, key, "lines") == 2


@pytest.mark.parametrize(
    ("field", "document"),
    [
        ("documents.0.metadata", '{"id": "m1", "text": "t", "metadata": {"k": "\\ud800"}}'),
        ("documents.0.metadata", '{"id": "m2", "text": "t", "metadata": {"k": NaN}}'),
        ("documents.0.metadata", '{"id": "m3", "text": "t", "metadata": {"k": Infinity}}'),
        ("documents.0.metadata", '{"id": "m4", "text": "t", "metadata": {"k": ' + "[" * 40 + "]" * 40 + "}}"),
        ("documents.0.metadata", '{"id": "m5", "text": "t", "metadata": {"k": ' + "[" * 900 + "]" * 900 + "}}"),
        ("documents.0.metadata", '{"id": "m6", "text": "t", "metadata": {"k": 1' + "0" * 400 + "}}"),
        ("documents.0.text", '{"id": "t1", "text": "lone \\udfff surrogate"}'),
        ("documents.0.title", '{"id": "t2", "text": "t", "title": "\\ud800"}'),
    ],
)
async def test_bad_document_values_get_422_and_store_nothing(
    client: httpx.AsyncClient, key: str, field: str, document: str
) -> None:
    body = '{"documents": [' + json.dumps(KEEP) + ", " + document + "]}"
    response = await _raw(client, key, "/v1/collections/values/documents", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field.replace("documents.0", "documents.1")


SEARCH_422: list[tuple[str, str]] = [
    ("filters.metadata.0", '"filters": {"metadata": [{"key": "year", "op": "gt", "value": 1' + "0" * 400 + "}]}"),
    ("filters.metadata.0", '"filters": {"metadata": [{"key": "year", "op": "gt", "value": 1e400}]}'),
    ("filters.metadata.0", '"filters": {"metadata": [{"key": "year", "op": "eq", "value": "\\ud800"}]}'),
    ("filters.metadata.0", '"filters": {"metadata": [{"key": "y", "op": "in", "value": ["a", "\\udc00"]}]}'),
    ("filters.document_ids", '"filters": {"document_ids": ["\\ud800"]}'),
    ("filters.contains", '"filters": {"contains": {"k": "\\ud800"}}'),
    ("filters.contains", '"filters": {"contains": {"k": ' + "[" * 40 + "]" * 40 + "}}"),
    ("filters.contains", '"filters": {"contains": {"k": ' + "[" * 900 + "]" * 900 + "}}"),
    ("min_score", '"min_score": NaN'),
    ("min_score", '"min_score": Infinity'),
    ("min_score", '"min_score": -Infinity'),
    ("query", '"query2": 1, "query": "\\ud800"'),
]


@pytest.mark.parametrize(("field", "part"), SEARCH_422)
async def test_bad_search_values_get_422(client: httpx.AsyncClient, key: str, field: str, part: str) -> None:
    await _ingest(client, key, "values", KEEP)
    body = "{" + ('"query": "lighthouse", "collection": "values", ' if not part.startswith('"query2"') else "") + part
    body = body.replace('"query2": 1, ', '"collection": "values", ') + "}"
    response = await _raw(client, key, "/v1/search", body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] is not None and error["field"].startswith(field), error
    assert "SELECT" not in error["message"] and "jsonb" not in error["message"].split(":")[0]


async def test_filter_lists_are_bounded(client: httpx.AsyncClient, key: str) -> None:
    many = [str(i) for i in range(MAX_FILTER_VALUES + 1)]
    for filters, field in (
        ({"metadata": [{"key": "y", "op": "in", "value": many}]}, "filters.metadata.0"),
        ({"document_ids": many}, "filters.document_ids"),
    ):
        body = {"query": "lighthouse", "collection": "values", "filters": filters}
        response = await client.post("/v1/search", json=body, headers=bearer(key))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
        assert str(MAX_FILTER_VALUES) in response.json()["error"]["message"]


async def test_jsonl_uploads_count_against_the_batch_limit(
    settings: Settings, local_embedder: Any, facade: AsyncSeek
) -> None:
    small = settings.model_copy(update={"max_batch_documents": 5})
    app = create_app(small, embedder=local_embedder)
    key = (await facade.create_api_key("hostile-batch")).key
    lines = "\n".join(json.dumps({"id": f"r{i}", "text": f"record {i}"}) for i in range(6))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        files = [("files", ("six.jsonl", lines.encode(), "application/jsonl"))]
        response = await c.post("/v1/collections/batch/files", files=files, headers=bearer(key))
        error = assert_error(response, 413, "payload_too_large", "files")
        assert "6 records" in error["message"] and "PGSEEK_MAX_BATCH_DOCUMENTS" in error["message"]
        assert (await c.get("/v1/collections/batch", headers=bearer(key))).status_code == 404
        five = [("files", ("five.jsonl", "\n".join(lines.split("\n")[:5]).encode(), "application/jsonl"))]
        assert (await c.post("/v1/collections/batch/files", files=five, headers=bearer(key))).status_code == 200


@pytest.mark.parametrize("name", [".", ".."])
async def test_collections_cannot_be_named_as_dot_segments(client: httpx.AsyncClient, key: str, name: str) -> None:
    made = await client.post("/v1/collections", json={"name": name}, headers=bearer(key))
    assert_error(made, 422, "invalid_input", "collection")
