"""The /v1 API over ASGI with httpx: the real app, database and model, one tenant at a time."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pgseek.api import create_app
from pgseek.api.observability import JsonFormatter
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, bearer

NOTES = [
    {
        "id": "n1",
        "title": "Lighthouses",
        "text": "A lighthouse warns ships of rocks with a rotating lamp.",
        "metadata": {"topic": "sea", "year": 2019},
    },
    {
        "id": "n2",
        "title": "Rockets",
        "text": "Rocket engines burn liquid oxygen and kerosene to make thrust.",
        "metadata": {"topic": "space", "year": 2021},
    },
    {
        "id": "n3",
        "title": "Bread",
        "text": "Sourdough bread rises slowly because wild yeast ferments the dough.",
        "metadata": {"topic": "food", "year": 2023},
    },
]


@pytest.fixture(scope="module")
async def key(facade: AsyncSeek) -> str:
    return (await facade.create_api_key("acme", name="tests")).key


@pytest.fixture(scope="module")
async def notes(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.post("/v1/collections/notes/documents", json={"documents": NOTES}, headers=bearer(key))
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def linked(html: str) -> list[str]:
    """Every URL a page loads or links to (src= and href=), fragments left out."""
    return [url for url in re.findall(r'(?:src|href)="([^"#]+)"', html)]


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["field"] == field
    error: dict[str, Any] = body["error"]
    return error


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True, "pending_migrations": [], "model": True, "problem": None}


async def test_ingest_json_batch_then_read_and_delete_a_document(
    client: httpx.AsyncClient, key: str, notes: dict[str, Any]
) -> None:
    assert (notes["documents_added"], notes["chunks_embedded"], notes["failures"]) == (3, 3, [])
    again = await client.post("/v1/collections/notes/documents", json={"documents": NOTES[:1]}, headers=bearer(key))
    assert again.json()["documents_unchanged"] == 1

    doc = (await client.get("/v1/collections/notes/documents/n2", headers=bearer(key))).json()
    assert doc["text"] == NOTES[1]["text"] and doc["metadata"] == NOTES[1]["metadata"] and doc["chunks"] == 1

    extra = {"id": "dir/with/slashes.md", "text": "Temporary note about kites."}
    await client.post("/v1/collections/notes/documents", json={"documents": [extra]}, headers=bearer(key))
    tagged = {**extra, "metadata": {"kind": "temporary"}}  # the text the model reads is the same: its vector stays
    retagged = await client.post("/v1/collections/notes/documents", json={"documents": [tagged]}, headers=bearer(key))
    assert {k: retagged.json()[k] for k in ("documents_updated", "chunks_embedded", "chunks_reused")} == {
        "documents_updated": 1,
        "chunks_embedded": 0,
        "chunks_reused": 1,
    }
    path = "/v1/collections/notes/documents/dir/with/slashes.md"
    assert (await client.get(path, headers=bearer(key))).json()["id"] == "dir/with/slashes.md"
    assert (await client.delete(path, headers=bearer(key))).status_code == 204
    assert_error(await client.get(path, headers=bearer(key)), 404, "not_found")
    assert_error(await client.delete(path, headers=bearer(key)), 404, "not_found")


async def test_collections_create_list_stats_delete(client: httpx.AsyncClient, key: str) -> None:
    made = await client.post("/v1/collections", json={"name": "papers", "distance": "l2"}, headers=bearer(key))
    assert made.status_code == 201 and made.json()["distance"] == "l2" and made.json()["documents"] == 0
    assert_error(await client.post("/v1/collections", json={"name": "papers"}, headers=bearer(key)), 409, "conflict")
    bad = await client.post("/v1/collections", json={"name": "x", "text_search_config": "klingon"}, headers=bearer(key))
    assert_error(bad, 400, "bad_configuration")
    wrong = await client.post("/v1/collections", json={"name": "x", "distance": "manhattan"}, headers=bearer(key))
    assert_error(wrong, 422, "validation_error", "distance")

    docs = {"documents": [{"id": "p1", "text": "Attention is all you need."}]}
    await client.post("/v1/collections/papers/documents", json=docs, headers=bearer(key))
    stats = (await client.get("/v1/collections/papers", headers=bearer(key))).json()
    assert (stats["documents"], stats["chunks"], stats["dimensions"]) == (1, 1, 384)
    listed = (await client.get("/v1/collections", headers=bearer(key))).json()["collections"]
    assert "papers" in [c["name"] for c in listed]

    deleted = await client.delete("/v1/collections/papers", params={"confirm": "papers"}, headers=bearer(key))
    assert deleted.json() == {"name": "papers", "documents_deleted": 1}
    assert_error(await client.get("/v1/collections/papers", headers=bearer(key)), 404, "not_found")


async def test_upload_files_uses_the_cli_loaders(client: httpx.AsyncClient, key: str) -> None:
    files = [
        ("files", ("kites.md", b"# Kites\n\nA kite flies on the wind, held by a line.", "text/markdown")),
        (
            "files",
            ("page.html", b"<html><title>Tea</title><body><h1>Tea</h1><p>Green tea is steamed.</p>", "text/html"),
        ),
        ("files", ("broken.pdf", b"%PDF-1.4 garbage", "application/pdf")),
        ("files", ("data.bin", b"\x00\x01", "application/octet-stream")),
    ]
    response = await client.post("/v1/collections/uploads/files", files=files, headers=bearer(key))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["documents_added"] == 2
    failed = {f["path"]: f["error"] for f in report["failures"]}
    assert set(failed) == {"broken.pdf", "data.bin"} and "unsupported file type .bin" in failed["data.bin"]
    doc = (await client.get("/v1/collections/uploads/documents/page.html", headers=bearer(key))).json()
    assert doc["title"] == "Tea" and doc["metadata"] == {"filename": "page.html", "format": "html"}


@pytest.mark.usefixtures("notes")
async def test_search_modes_and_filters(client: httpx.AsyncClient, key: str) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        body = {"query": "rocket engines", "collection": "notes", "mode": mode, "k": 2}
        result = (await client.post("/v1/search", json=body, headers=bearer(key))).json()
        assert result["mode"] == mode and result["hits"][0]["document_id"] == "n2", result
    filtered = {
        "query": "rocket engines",
        "collection": "notes",
        "filters": {"metadata": [{"key": "year", "op": "lte", "value": 2019}], "document_ids": ["n1", "n2"]},
    }
    hits = (await client.post("/v1/search", json=filtered, headers=bearer(key))).json()["hits"]
    assert [h["document_id"] for h in hits] == ["n1"]
    bad = {"query": "x", "collection": "notes", "filters": {"metadata": [{"key": "a b", "op": "eq", "value": 1}]}}
    # The field is the request's own path to the condition, as for schema errors (filters.metadata.0.op).
    response = await client.post("/v1/search", json=bad, headers=bearer(key))
    assert "'a b'" in assert_error(response, 422, "invalid_input", "filters.metadata.0")["message"]


@pytest.mark.usefixtures("notes")
async def test_search_returns_the_same_hits_as_the_cli(client: httpx.AsyncClient, key: str, settings: Settings) -> None:
    query = "why does dough rise"
    api = (
        await client.post(
            "/v1/search", json={"query": query, "collection": "notes", "mode": "hybrid"}, headers=bearer(key)
        )
    ).json()
    env = {**os.environ, "PGSEEK_DATABASE_URL": str(settings.database_url), "PGSEEK_HOME": str(settings.home)}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgseek",
            "search",
            query,
            "-c",
            "notes",
            "-t",
            "acme",
            "-m",
            "hybrid",
            "--explain",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert api["hits"] == json.loads(cli.stdout)["hits"]
    assert api["hits"][0]["document_id"] == "n3"


async def test_requests_without_a_valid_key_get_401(client: httpx.AsyncClient, facade: AsyncSeek) -> None:
    made = await facade.create_api_key("acme", name="short-lived")
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer("pgseek_kdeadbeef0000_" + "x" * 43),
        bearer(""),
    ):
        response = await client.get("/v1/collections", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.get("/v1/whoami", headers=bearer(made.key))).json() == {
        "key_id": made.id,
        "tenant": "acme",
        "name": "short-lived",
    }
    await facade.revoke_api_key(made.id)
    assert_error(await client.get("/v1/whoami", headers=bearer(made.key)), 401, "unauthorized")


async def test_error_shapes(client: httpx.AsyncClient, key: str) -> None:
    h = bearer(key)
    bad_json = await client.post("/v1/search", content=b"{nope", headers={**h, "Content-Type": "application/json"})
    assert_error(bad_json, 400, "invalid_json")
    assert_error(
        await client.post("/v1/search", json={"query": "x", "tenant": "globex"}, headers=h),
        422,
        "validation_error",
        "tenant",
    )
    assert_error(await client.post("/v1/search", json={"query": "x", "k": 0}, headers=h), 422, "validation_error", "k")
    assert_error(await client.post("/v1/search", json={"query": "   "}, headers=h), 422, "validation_error", "query")
    too_long = await client.post("/v1/search", json={"query": "lighthouse " * 300}, headers=h)
    assert "word pieces" in assert_error(too_long, 422, "invalid_query", "query")["message"]
    missing = await client.post("/v1/search", json={"query": "x", "collection": "nowhere"}, headers=h)
    assert "nowhere" in assert_error(missing, 404, "not_found")["message"]
    assert_error(await client.get("/v1/nothing-here", headers=h), 404, "not_found")
    assert_error(await client.put("/v1/search", headers=h), 405, "method_not_allowed")
    nul = {"documents": [{"id": "a\u0000b", "text": "x"}]}
    assert_error(
        await client.post("/v1/collections/notes/documents", json=nul, headers=h),
        422,
        "validation_error",
        "documents.0.id",
    )
    blank = {"documents": [{"id": "ok", "text": "fine"}, {"id": "blank", "text": " \n "}]}
    assert_error(
        await client.post("/v1/collections/notes/documents", json=blank, headers=h),
        422,
        "invalid_document",
        "documents.1.text",
    )


async def test_request_size_limits_give_413(settings: Settings, local_embedder: Any, facade: AsyncSeek) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048, "max_batch_documents": 2})
    app = create_app(small, embedder=local_embedder)
    key = (await facade.create_api_key("acme")).key
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        big = {"documents": [{"id": "big", "text": "word " * 1000}]}
        assert_error(
            await c.post("/v1/collections/n/documents", json=big, headers=bearer(key)), 413, "payload_too_large", "body"
        )

        async def chunked() -> Any:  # no Content-Length: the limit counts the bytes as they arrive
            for _ in range(10):
                yield b'{"documents": [' + b" " * 500

        streamed = await c.post(
            "/v1/collections/n/documents",
            content=chunked(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        assert_error(streamed, 413, "payload_too_large")
        many = {"documents": [{"id": str(i), "text": "t"} for i in range(3)]}
        assert_error(
            await c.post("/v1/collections/n/documents", json=many, headers=bearer(key)),
            413,
            "payload_too_large",
            "documents",
        )


async def test_request_ids_are_returned_and_logged(
    client: httpx.AsyncClient, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pgseek.api"):
        mine = await client.get("/v1/whoami", headers={**bearer(key), "X-Request-ID": "trace-42"})
        fresh = await client.get("/healthz")
    assert mine.headers["X-Request-ID"] == "trace-42"
    assert len(fresh.headers["X-Request-ID"]) == 32
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "request"]
    by_id = {line.get("request_id"): line for line in lines}
    assert by_id["trace-42"]["route"] == "/v1/whoami" and by_id["trace-42"]["status"] == 200
    assert by_id["trace-42"]["tenant"] == "acme" and by_id["trace-42"]["duration_ms"] >= 0
    assert fresh.headers["X-Request-ID"] in by_id
    junk = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert junk.headers["X-Request-ID"] != "bad id\twith spaces"


@pytest.mark.usefixtures("notes")
async def test_metrics(client: httpx.AsyncClient, key: str) -> None:
    await client.post(
        "/v1/search", json={"query": "lamp", "collection": "notes", "mode": "hybrid"}, headers=bearer(key)
    )
    text = (await client.get("/metrics", headers=OPERATOR)).text
    assert 'pgseek_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert 'pgseek_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/search"}' in text
    for stage in ("embed", "search", "fuse", "total"):
        assert f'pgseek_stage_duration_seconds_count{{operation="search",stage="{stage}"}}' in text
    assert 'pgseek_collection_documents{collection="notes"} 3.0' in text
    assert 'pgseek_collection_chunks{collection="notes"} 3.0' in text
    assert 'pgseek_pool_connections{state="max"} 8.0' in text
    assert 'pgseek_ingest_documents_total{outcome="added"}' in text


async def test_openapi_names_schemas_by_role_and_docs_work_offline(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = set(spec["components"]["schemas"])
    assert {
        "SearchRequest",
        "SearchResponse",
        "Hit",
        "IngestRequest",
        "IngestResponse",
        "DocumentPublic",
        "CollectionPublic",
        "CollectionCreate",
        "ErrorResponse",
    } <= schemas
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/search"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    docs = (await client.get("/docs")).text
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(linked(docs))
    for asset in linked(docs):
        assert asset.startswith("/"), f"{asset} is not served by pgseek"
        assert (await client.get(asset)).status_code == 200, asset


async def test_web_page_and_its_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert {"/static/app.js", "/static/style.css", "/static/favicon.svg"} <= set(linked(page.text))
    for asset in linked(page.text):
        assert asset.startswith("/") and not asset.startswith("//"), f"{asset} is not served by pgseek"
        assert (await client.get(asset)).status_code == 200, asset


def test_create_app_reads_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGSEEK_MAX_REQUEST_BYTES", "4096")
    monkeypatch.setenv("PGSEEK_HOME", str(tmp_path))
    app: FastAPI = create_app()
    assert app.state.seek.settings.max_request_bytes == 4096
