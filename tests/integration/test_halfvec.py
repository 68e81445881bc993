"""float16 (halfvec) storage on the real server with the real model: chosen per collection, or automatically for a
model wider than float32's HNSW index, written, indexed and searched by both plans; too wide for halfvec, refused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import psycopg
import pytest
from numpy.typing import NDArray

from pgseek import Document, SearchFilter, Seek, Settings
from pgseek.errors import ConfigurationError
from pgseek.providers.local import LocalEmbedder
from pgseek.types import ModelInfo
from tests.conftest import DelegatingEmbedder
from tests.embeddings_server import EmbeddingsServer, Vectors

DOCS = [
    Document("volcano", "A volcano erupts when magma from the mantle rises through the crust and escapes as lava."),
    Document("bread", "To bake bread, mix flour, water, salt and yeast, knead the dough and bake it in a hot oven."),
    Document("tides", "Tides are caused by the gravitational pull of the Moon and the Sun on the oceans of the Earth."),
    Document("espresso", "Espresso is brewed by forcing hot water under pressure through finely ground coffee."),
    Document("glacier", "Glaciers are rivers of ice that carve valleys as they creep downhill under their own weight."),
    Document("bees", "Honey bees dance to tell the hive where flowers are, giving direction and distance to food."),
]
QUERIES = {
    "what makes molten rock come out of a mountain": "volcano",
    "why does the sea rise and fall twice a day": "tides",
    "how do I make a loaf at home": "bread",
    "how do insects share where the nectar is": "bees",
}


def widened(vectors: Vectors, dimensions: int) -> Vectors:
    """MiniLM's 384-dimensional vectors repeated up to ``dimensions`` and renormalised: as wide as a large hosted model
    (text-embedding-3-large: 3,072), with exactly MiniLM's cosines, so that search results still mean something."""

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        narrow = vectors(texts)
        wide = np.tile(narrow, (1, -(-dimensions // narrow.shape[1])))[:, :dimensions]
        unit: NDArray[np.float32] = (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)
        return unit

    return embed


@pytest.fixture()
def wide_server(local_embedder: LocalEmbedder) -> Iterator[EmbeddingsServer]:
    server = EmbeddingsServer(widened(local_embedder.embed, 3072)).start()
    yield server
    server.stop()


def column_and_index(database_url: str, collection: str) -> tuple[str, list[str]]:
    """The collection's embedding column type and the definitions of its HNSW indexes."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT v.table_name, format_type(a.atttypid, a.atttypmod) FROM collections c "
            "JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active' "
            "JOIN pg_attribute a ON a.attrelid = v.table_name::regclass AND a.attname = 'embedding' "
            "WHERE c.name = %s",
            (collection,),
        ).fetchone()
        assert row is not None
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%USING hnsw%%'", (row[0],)
        ).fetchall()
    return str(row[1]), [str(i[0]) for i in indexes]


def top_hits(
    settings: Settings, collection: str, embedder: LocalEmbedder | None = None
) -> dict[str, tuple[str, str | None]]:
    """Each query's top document under both plans, with the plan that ran; without ``embedder``, the collection's
    model is rebuilt from its stored identity."""
    found: dict[str, tuple[str, str | None]] = {}
    for exact_below in (0, 100_000):  # the HNSW index (iterative scan), then the exact scan
        with Seek(settings.model_copy(update={"exact_search_below": exact_below}), embedder=embedder) as seek:
            for query in QUERIES:
                result = seek.search(query, k=3, collection=collection)
                assert result.plan == ("iterative" if exact_below == 0 else "exact")
                found[f"{result.plan}: {query}"] = (result.hits[0].document_id, result.plan)
    return found


def test_a_float16_collection_finds_what_a_float32_one_finds(
    settings: Settings, local_embedder: LocalEmbedder, database_url: str
) -> None:
    half = settings.model_copy(update={"embed_precision": "float16"})
    with Seek(half) as seek:
        seek.ingest_documents(DOCS, collection="half")
        seek.ingest_documents(DOCS[:2], collection="half", tenant="other")
        info = seek.embedder("half").info
    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(DOCS, collection="full")
        assert seek.embedder("full").info.precision == "float32"
    assert (info.precision, info.dimensions) == ("float16", 384)
    assert column_and_index(database_url, "half")[0] == "halfvec(384)"
    assert "halfvec_cosine_ops" in column_and_index(database_url, "half")[1][0]
    assert column_and_index(database_url, "full") == ("vector(384)", [column_and_index(database_url, "full")[1][0]])
    half_top = top_hits(settings, "half")
    assert half_top == top_hits(settings, "full", local_embedder)
    assert {doc for doc, _ in half_top.values()} == set(QUERIES.values())
    # Filters and tenants work on halfvec as on vector: the other tenant sees its two documents only.
    with Seek(settings, embedder=local_embedder) as seek:
        hits = seek.search("lava and bread", k=5, collection="half", tenant="other").hits
        filtered = seek.search("coffee", k=5, collection="half", filter=SearchFilter(document_ids=("tides",))).hits
    assert {h.document_id for h in hits} == {"volcano", "bread"}
    assert [h.document_id for h in filtered] == ["tides"]


def test_a_model_wider_than_2000_dimensions_is_stored_and_indexed_as_halfvec(
    settings: Settings, database_url: str, wide_server: EmbeddingsServer
) -> None:
    large = settings.model_copy(
        update={"embed_provider": "openai", "embed_base_url": wide_server.url, "model": "text-embedding-3-large"}
    )
    with Seek(large) as seek:
        report = seek.ingest_documents(DOCS, collection="wide")
        info = seek.embedder("wide").info
    assert report.ok and report.documents_added == len(DOCS)
    assert (info.dimensions, info.precision) == (3072, "float16")
    column, indexes = column_and_index(database_url, "wide")
    assert column == "halfvec(3072)" and len(indexes) == 1 and "halfvec_cosine_ops" in indexes[0]
    top = top_hits(large, "wide")
    assert all(doc == QUERIES[query.split(": ", 1)[1]] for query, (doc, _) in top.items())
    assert all(body.body.get("dimensions") == 3072 for body in wide_server.requests)


def test_wider_than_halfvec_can_index_is_refused_before_anything_is_written(
    settings: Settings, local_embedder: LocalEmbedder, database_url: str
) -> None:  # and wider than vector can index, when float32 is asked for
    server = EmbeddingsServer(widened(local_embedder.embed, 4096)).start()
    try:
        too_wide = settings.model_copy(
            update={"embed_provider": "openai", "embed_base_url": server.url, "model": "wide-4096"}
        )
        with Seek(too_wide) as seek, pytest.raises(ConfigurationError, match=r"4,096 dimensions exceed the 4,000"):
            seek.ingest_documents(DOCS[:1], collection="too-wide")
        float32 = settings.model_copy(
            update={"embed_provider": "openai", "embed_base_url": server.url, "model": "text-embedding-3-large"}
        )
        with (
            Seek(float32.model_copy(update={"embed_precision": "float32"})) as seek,
            pytest.raises(ConfigurationError, match=r"3,072 dimensions exceed the 2,000 .*=float16"),
        ):
            seek.ingest_documents(DOCS[:1], collection="too-wide")
    finally:
        server.stop()
    with Seek(settings, embedder=local_embedder) as seek:
        assert all(c.model is None and c.documents == 0 for c in seek.collections() if c.name == "too-wide")
    with psycopg.connect(database_url) as conn:
        models = conn.execute("SELECT count(*) FROM embedding_models WHERE name = 'wide-4096'").fetchone()
    assert models is not None and models[0] == 0


class Unnormalised(DelegatingEmbedder):
    """The real model asking for float16 storage, with one text's vector scaled past float16's range (65,504)."""

    @property
    def info(self) -> ModelInfo:
        return replace(self.inner.info, precision="float16", normalized=False)

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        vectors = self.inner.embed(texts, purpose=purpose)
        scale = np.array([[1e6 if "volcano" in t else 1.0] for t in texts], dtype=np.float32)
        scaled: NDArray[np.float32] = vectors * scale
        return scaled


def test_a_value_float16_cannot_hold_fails_its_document_alone(
    settings: Settings, local_embedder: LocalEmbedder
) -> None:
    with Seek(settings, embedder=Unnormalised(local_embedder)) as seek:
        report = seek.ingest_documents(DOCS, collection="overflow")
        hit = seek.search("how do I make a loaf at home", k=1, collection="overflow").hits[0]
    assert report.documents_added == len(DOCS) - 1 and [f.path for f in report.failures] == ["volcano"]
    assert "beyond float16's range" in report.failures[0].error and hit.document_id == "bread"
