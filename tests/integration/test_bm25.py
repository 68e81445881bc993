"""The keyword leg's Okapi BM25: scores against an independent computation, and the statistics it reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgseek import Document, Seek
from tests.bm25_oracle import reference_scores

TEXTS = {
    "common": "The pump pump pump needs a pump check, and the pump manual covers pump parts.",
    "rare": "A cracked impeller in the pump was found during the inspection.",
    "long": " ".join(["The pump room inspection log lists valves, seals, filters, gauges and pipes."] * 6),
    "none": "Weather report: light rain and a breeze from the west.",
}


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any) -> Iterator[Seek]:
    with Seek(settings, embedder=local_embedder) as s:
        s.ingest_documents([Document(k, v, title=None) for k, v in TEXTS.items()], collection="bm25")
        yield s


@pytest.mark.parametrize("query", ["pump impeller", "pump inspection log", "cracked pump seals in the rain"])
def test_scores_are_okapi_bm25(seek: Seek, database_url: str, query: str) -> None:
    expected = reference_scores(database_url, "bm25", query)
    hits = seek.search(query, mode="keyword", k=10, collection="bm25").hits
    assert {h.document_id: h.score for h in hits} == pytest.approx(expected, rel=1e-9)
    assert [h.document_id for h in hits] == sorted(expected, key=lambda d: -expected[d])


def test_a_rare_word_outweighs_a_repeated_common_one(seek: Seek) -> None:
    # ts_rank_cd, which knows nothing of document frequency, put "common" first: it says "pump" six times.
    hits = seek.search("pump impeller", mode="keyword", k=3, collection="bm25").hits
    assert hits[0].document_id == "rare"


def test_statistics_follow_inserts_replacements_and_deletes(seek: Seek, database_url: str) -> None:
    def stats() -> tuple[int, int]:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                """SELECT s.chunk_count, s.token_sum,
                          (SELECT count(*) FROM chunks c WHERE c.collection_id = s.collection_id),
                          (SELECT sum(token_count) FROM chunks c WHERE c.collection_id = s.collection_id)
                   FROM keyword_stats s JOIN collections k ON k.id = s.collection_id
                   WHERE k.name = 'bm25' AND s.tenant_id = 'default'"""
            ).fetchone()
        assert row is not None and (row[0], row[1]) == (row[2], row[3])
        return row[0], row[1]

    before = stats()
    seek.ingest_documents([Document("extra", "Spare pump gaskets are in the second drawer.")], collection="bm25")
    assert stats()[0] == before[0] + 1
    seek.ingest_documents([Document("extra", "Spare gaskets.")], collection="bm25")  # replaced: fewer tokens
    assert stats()[0] == before[0] + 1 and stats()[1] < before[1] + 20
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM documents WHERE external_id = 'extra'")
    assert stats() == before
