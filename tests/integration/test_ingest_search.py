"""Ingest -> search on the real embedded PostgreSQL with the real model."""

from __future__ import annotations

import base64
import random
import threading
from pathlib import Path

import psycopg
import pytest

from pgseek import Document, QueryError, Seek, Settings
from pgseek.errors import NotFoundError
from tests.conftest import CountingEmbedder

DOCS = {
    "volcano.md": "# Volcanoes\n\nA volcano erupts when magma from the mantle rises through the crust and escapes "
    "as lava, ash and gas. Stratovolcanoes build steep cones from layers of lava.",
    "bread.txt": "To bake bread, mix flour, water, salt and yeast, knead the dough, let it rise for two hours and bake "
    "it in a hot oven until the crust is brown.",
    "tides.html": "<html><head><title>Tides</title></head><body><h1>Ocean tides</h1><p>Tides are caused by the "
    "gravitational pull of the Moon and the Sun on the oceans of the Earth.</p></body></html>",
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_paraphrased_query_finds_the_right_document(seek: Seek, corpus: Path) -> None:
    report = seek.ingest([corpus], collection="basic")
    assert (report.documents_added, report.documents_failed) == (3, 0)
    assert report.chunks_embedded == 3

    result = seek.search("what makes molten rock come out of a mountain", k=3, collection="basic")
    assert result.hits[0].document_id.endswith("volcano.md")
    assert result.hits[0].heading_path == ("Volcanoes",)
    assert result.hits[0].score > result.hits[1].score
    assert result.timings_ms.total >= result.timings_ms.search > 0

    moon = seek.search("why does the sea level rise and fall each day", k=1, collection="basic")
    assert moon.hits[0].title == "Tides"


def test_reingesting_unchanged_files_embeds_nothing(seek: Seek, corpus: Path, embedder: CountingEmbedder) -> None:
    seek.ingest([corpus], collection="idempotent")
    before = embedder.texts_embedded
    again = seek.ingest([corpus], collection="idempotent")
    assert (again.documents_unchanged, again.documents_added, again.chunks_embedded) == (3, 0, 0)
    assert embedder.texts_embedded == before


def test_min_score_and_k(seek: Seek, corpus: Path) -> None:
    seek.ingest([corpus], collection="scores")
    everything = seek.search("bread", k=3, collection="scores")
    assert len(everything.hits) == 3
    threshold = everything.hits[0].score - 1e-6
    assert len(seek.search("bread", k=3, collection="scores", min_score=threshold).hits) == 1


def test_changed_file_replaces_its_chunks_atomically(seek: Seek, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "doc.md"
    old = "\n\n".join(f"Paragraph {i} about ancient Roman aqueducts and their arches." * 8 for i in range(6))
    path.write_text(old)
    first = seek.ingest([path], collection="atomic")
    assert first.documents_added == 1
    with psycopg.connect(database_url) as conn:
        old_count = _chunk_count(conn, str(path.resolve()))
    assert old_count > 1

    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                seen.add(_chunk_count(conn, str(path.resolve())))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        new = "A short note on modern suspension bridges."
        for round_ in range(4):
            path.write_text(new if round_ % 2 == 0 else old)
            assert seek.ingest([path], collection="atomic").documents_updated == 1
    finally:
        stop.set()
        watcher.join()
    assert seen <= {old_count, 1}, f"a reader saw a half-replaced document: chunk counts {seen}"
    hit = seek.search("suspension bridges", k=5, collection="atomic").hits
    assert len(hit) == old_count  # the document is back at its old text, with exactly its old chunks


def _chunk_count(conn: psycopg.Connection[tuple[int]], external_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.external_id = %s",
        (external_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_database_failure_rolls_back_only_that_document(seek: Seek, database_url: str) -> None:
    # An id too long for a btree index entry (about 2,700 bytes; random text does not compress): nothing before
    # PostgreSQL refuses it (values it can never store, such as NUL, are refused before embedding), so this
    # document fails inside the database, after embedding.
    bad = "bad-" + base64.b64encode(random.Random(7).randbytes(6000)).decode()
    docs = [
        Document("good-1", "Glaciers carve valleys into U shapes over thousands of years.", title="Glaciers"),
        Document(bad, "Deserts receive little rain.", title="Deserts"),
        Document("good-2", "Coral reefs grow in warm, shallow, clear sea water.", title="Reefs"),
    ]
    report = seek.ingest_documents(docs, collection="rollback")
    assert report.documents_added == 2
    assert [f.path for f in report.failures] == [bad]
    assert "database rejected the input" in report.failures[0].error
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT d.external_id, count(c.id) FROM documents d LEFT JOIN chunks c ON c.document_id = d.id "
            "JOIN collections k ON k.id = d.collection_id WHERE k.name = 'rollback' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("good-1", 1), ("good-2", 1)]


def test_chunks_fit_the_model_with_their_title(seek: Seek, database_url: str) -> None:
    long_title = "A very long title about the history of printing presses in Europe " * 6
    text = " ".join(f"Sentence {i} describes movable type and ink." for i in range(400))
    report = seek.ingest_documents([Document("long", text, title=long_title)], collection="limits")
    assert report.chunks_embedded > 5
    counter = seek.embedder().counter
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.text, c.token_count, c.char_start, c.char_end FROM chunks c JOIN documents d "
            "ON d.id = c.document_id WHERE d.external_id = 'long' ORDER BY c.position"
        ).fetchall()
    for chunk, tokens, start, end in rows:
        assert text[start:end] == chunk
        assert tokens == len(counter.token_spans(chunk))
        assert tokens + 32 <= 254  # the title prefix is capped at 32 word pieces


def test_bad_queries_are_clear_errors(seek: Seek, corpus: Path) -> None:
    seek.ingest([corpus], collection="queries")
    with pytest.raises(QueryError, match="empty") as empty:
        seek.search("   ", collection="queries")
    assert empty.value.field == "query"
    with pytest.raises(QueryError, match="word pieces"):
        seek.search("word " * 400, collection="queries")
    with pytest.raises(QueryError, match="k must be"):
        seek.search("bread", k=0, collection="queries")
    with pytest.raises(NotFoundError, match="no-such"):
        seek.search("bread", collection="no-such")


def test_index_is_built_and_ef_search_does_not_leak(
    settings: Settings, embedder: CountingEmbedder, corpus: Path
) -> None:
    one_connection = settings.model_copy(update={"pool_min_size": 1, "pool_max_size": 1, "ef_search": 77})
    with Seek(one_connection, embedder=embedder) as seek:
        seek.ingest([corpus], collection="index")
        status = seek.status()
        assert any(i.method == "hnsw" and "vector_cosine_ops" in i.definition for i in status.indexes)
        assert len(seek.search("bread", k=2, collection="index").hits) == 2

        async def show() -> object:
            pool = seek._core._pool
            assert pool is not None
            async with pool.connection() as conn:
                cur = await conn.execute("SHOW hnsw.ef_search")
                return await cur.fetchone()

        # The same (only) connection ran the search with ef_search 77, set for that transaction alone.
        assert seek._run(show()) == ("40",)


def test_documents_a_program_builds_are_checked_like_loaded_ones(seek: Seek) -> None:
    docs = [
        Document("ok", "Glaciers carve valleys into U shapes over thousands of years."),
        Document("..", "An id that HTTP clients would shorten to the collection."),
        Document("sur", "Broken \ud800 text."),
        Document("nan", "Not a number.", metadata={"n": float("nan")}),
        Document("nul", "A NUL in metadata.", metadata={"note": "nul\x00byte"}),
    ]
    report = seek.ingest_documents(docs, collection="checked")
    assert report.documents_added == 1
    failures = {f.path: f.error for f in report.failures}
    assert set(failures) == {"..", "sur", "nan", "nul"}
    assert "dot segment" in failures[".."] and "lone surrogate" in failures["sur"]
    assert "NaN" in failures["nan"] and "NUL" in failures["nul"]
