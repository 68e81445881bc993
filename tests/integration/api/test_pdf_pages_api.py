"""PDF page numbers over HTTP: a generated three-page PDF uploaded to a live server, then /v1/search hits and /v1/ask
citations carry ``page`` and ``page_end`` (null for documents without pages)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import LiveServer, bearer
from tests.pdfs import harbour_manual

COLLECTION = "harbour"


@pytest.fixture(scope="module")
async def key(facade: AsyncSeek) -> str:
    return (await facade.create_api_key("pdf-tenant", name="pdf")).key


@pytest.fixture(scope="module")
def http(live_server: LiveServer, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers=bearer(key), timeout=120) as client:
        files = [("files", ("harbour.pdf", harbour_manual(), "application/pdf"))]
        uploaded = client.post(f"/v1/collections/{COLLECTION}/files", files=files)
        assert uploaded.status_code == 200 and uploaded.json()["documents_added"] == 1, uploaded.text
        note = {"documents": [{"id": "note", "text": "Gulls nest on the breakwater in spring."}]}
        assert client.post(f"/v1/collections/{COLLECTION}/documents", json=note).status_code == 200
        yield client


def search(http: httpx.Client, query: str) -> dict[str, Any]:
    response = http.post("/v1/search", json={"query": query, "k": 1, "collection": COLLECTION, "mode": "hybrid"})
    assert response.status_code == 200, response.text
    hit: dict[str, Any] = response.json()["hits"][0]
    return hit


def test_search_hits_carry_pages(http: httpx.Client) -> None:
    lighthouse = search(http, "Fresnel lens of the lighthouse")
    assert lighthouse["document_id"] == "harbour.pdf" and (lighthouse["page"], lighthouse["page_end"]) == (1, 2)
    espresso = search(http, "how long to pull a shot of espresso")
    assert (espresso["page"], espresso["page_end"]) == (3, 3)
    gulls = search(http, "where do gulls nest")
    assert gulls["document_id"] == "note" and (gulls["page"], gulls["page_end"]) == (None, None)


def test_ask_citations_carry_pages(http: httpx.Client) -> None:
    body = {"question": "How long does a shot of espresso take to pull?", "collection": COLLECTION}
    response = http.post("/v1/ask", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not answer["refused"]
    cited = {(c["document_id"], c["page"], c["page_end"]) for c in answer["citations"]}
    assert ("harbour.pdf", 3, 3) in cited


def test_openapi_documents_the_page_fields(http: httpx.Client) -> None:
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    for name in ("Hit", "CitationPublic"):
        assert {"page", "page_end"} <= set(schemas[name]["properties"])
        assert {"page", "page_end"} <= set(schemas[name]["required"])  # always present, null without pages
