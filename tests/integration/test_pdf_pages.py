"""PDF page numbers end to end: a generated three-page PDF ingested from a file, searched and asked about through the
library and the CLI's JSON, with the real model and the real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pgseek import Document, Seek
from tests.integration.test_cli import pgseek
from tests.pdfs import harbour_manual

COLLECTION = "pdf-pages"


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seek]:
    path = tmp_path_factory.mktemp("pdf") / "harbour.pdf"
    path.write_bytes(harbour_manual())
    with Seek(settings, embedder=local_embedder) as s:
        report = s.ingest([path], collection=COLLECTION)
        assert report.ok and report.chunks_embedded == 3, report
        yield s


def test_hits_carry_the_pages_their_chunk_sits_on(seek: Seek) -> None:
    lighthouse = seek.search("Fresnel lens of the lighthouse", k=1, collection=COLLECTION).hits[0]
    assert "Fresnel lens" in lighthouse.chunk and (lighthouse.page, lighthouse.page_end) == (1, 2)
    espresso = seek.search("how long to pull a shot of espresso", k=1, collection=COLLECTION, mode="hybrid").hits[0]
    assert "connection between the portafilter" in espresso.chunk  # the word broken at a line's end, mended
    assert (espresso.page, espresso.page_end) == (3, 3)
    tides = seek.search("tide tables", k=1, collection=COLLECTION, mode="keyword").hits[0]
    assert (tides.page, tides.page_end) == (1, 1)
    assert "Harbour Manual" not in tides.chunk  # the running header is not part of the text


def test_citations_carry_the_page(seek: Seek) -> None:
    answer = seek.ask("How long does a shot of espresso take to pull?", collection=COLLECTION)
    assert not answer.refused and answer.citations
    cited = {(c.chunk[:24], c.page, c.page_end) for c in answer.citations}
    assert ("The harbour cafe pulls e", 3, 3) in cited
    assert answer.to_json()["citations"][0]["page"] == answer.citations[0].page


def test_documents_without_pages_have_none(seek: Seek) -> None:
    seek.ingest_documents([Document("note", "Gulls nest on the breakwater in spring.")], collection=COLLECTION)
    hit = seek.search("gulls nesting", k=1, collection=COLLECTION).hits[0]
    assert hit.document_id == "note" and (hit.page, hit.page_end) == (None, None)


def test_cli_prints_pages_in_json_and_in_source_labels(seek: Seek, settings: Any) -> None:
    env = {"PGSEEK_DATABASE_URL": settings.database_url, "PGSEEK_HOME": str(settings.home), "HF_HUB_OFFLINE": "1"}
    found = pgseek(["search", "Fresnel lens", "-k", "1", "--collection", COLLECTION, "--json"], env)
    assert found.returncode == 0, found.stderr
    hit = json.loads(found.stdout)["hits"][0]
    assert (hit["page"], hit["page_end"]) == (1, 2)
    question = "How long does a shot of espresso take to pull?"
    asked = pgseek(["ask", question, "--collection", COLLECTION, "--no-stream"], env)
    assert asked.returncode == 0, asked.stderr
    assert "harbour.pdf p. 3 (score" in asked.stdout
