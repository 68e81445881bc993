"""Re-ingesting a changed document embeds only the chunks whose embedded text changed (decision 0017): real
PostgreSQL, the real model, CountingEmbedder counting what the model reads."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.ingest.pipeline import embed_hash
from tests.conftest import CountingEmbedder

TOPICS = [
    "Roman aqueducts carried water across valleys on stone arches built with a gentle, constant slope.",
    "Honeybees tell their hive where flowers are with a waggle dance whose angle points toward the sun.",
    "Glaciers carve U-shaped valleys as they grind rock beneath tons of slowly moving ice.",
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria fed with flour and water.",
    "Lighthouses once burned whale oil before kerosene lamps and Fresnel lenses made their beams reach farther.",
    "Octopuses taste with the suckers on their arms, each of which can act almost on its own.",
    "The printing press with movable type spread pamphlets and books across Europe within decades.",
    "Coral reefs grow from the limestone skeletons of tiny polyps living alongside photosynthetic algae.",
    "Violin makers carve spruce tops and maple backs, then tune the plates by tapping and shaving them.",
    "Monsoon winds reverse with the seasons, bringing months of heavy rain to South Asia each summer.",
]
EDITED = 3
NEW_PARAGRAPH = "Bioluminescent plankton make breaking waves glow blue at night when they are disturbed."


def _long_text(paragraphs: list[str]) -> str:
    # A heading per section: chunks never cross one, so every section is one chunk and an edit touches one.
    return "\n\n".join(f"## Section {i}\n\n{p} {p}" for i, p in enumerate(paragraphs))


def _edited() -> list[str]:
    return [NEW_PARAGRAPH if i == EDITED else p for i, p in enumerate(TOPICS)]


LONG = Document("long", _long_text(TOPICS), title="A miscellany", metadata={"rev": 1})


def _vectors(database_url: str, collection: str, external_id: str, tenant: str = "default") -> list[np.ndarray]:
    """The stored vectors of a document's chunks in position order, read as the owner role."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT v.table_name FROM collections c "
            "JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active' WHERE c.name = %s",
            (collection,),
        ).fetchone()
        assert row is not None
        rows = conn.execute(
            psycopg.sql.SQL(
                "SELECT e.embedding::real[] FROM documents d JOIN chunks c ON c.document_id = d.id "
                "JOIN {} e ON e.chunk_id = c.id JOIN collections k ON k.id = d.collection_id "
                "WHERE k.name = %s AND d.external_id = %s AND d.tenant_id = %s ORDER BY c.position"
            ).format(psycopg.sql.Identifier(str(row[0]))),
            (collection, external_id, tenant),
        ).fetchall()
    return [np.asarray(r[0], dtype=np.float32) for r in rows]


def test_editing_one_paragraph_embeds_only_its_chunk(seek: Seek, embedder: CountingEmbedder) -> None:
    first = seek.ingest_documents([LONG], collection="reuse-edit")
    assert (first.chunks_embedded, first.chunks_reused) == (len(TOPICS), 0)
    before = embedder.texts_embedded

    again = seek.ingest_documents([replace(LONG, text=_long_text(_edited()))], collection="reuse-edit")

    assert (again.documents_updated, again.chunks_embedded, again.chunks_reused) == (1, 1, len(TOPICS) - 1)
    assert embedder.texts_embedded - before == 1
    found = seek.search("glowing waves at night", k=1, collection="reuse-edit", mode="vector")
    assert NEW_PARAGRAPH in found.hits[0].chunk
    old = seek.search("hive waggle dance flowers", k=len(TOPICS), collection="reuse-edit", mode="keyword")
    assert not any(TOPICS[EDITED] in hit.chunk for hit in old.hits)
    assert seek.collection("reuse-edit").chunks == len(TOPICS)  # the old chunks are gone, none doubled


def test_reused_vectors_are_the_stored_ones_and_search_as_a_fresh_ingest_does(seek: Seek, database_url: str) -> None:
    seek.ingest_documents([LONG], collection="reuse-same")
    original = _vectors(database_url, "reuse-same", "long")
    edited = replace(LONG, text=_long_text(_edited()))
    seek.ingest_documents([edited], collection="reuse-same")
    seek.ingest_documents([edited], collection="reuse-fresh")

    reused, fresh = _vectors(database_url, "reuse-same", "long"), _vectors(database_url, "reuse-fresh", "long")
    for i in range(len(TOPICS)):
        if i != EDITED:  # bit for bit the vector stored before
            assert reused[i].tobytes() == original[i].tobytes()
        assert np.allclose(reused[i], fresh[i], atol=1e-5)
    for query in ("water carried over arches", "glowing waves at night", "wild yeast culture", "summer rain"):
        a = seek.search(query, k=5, collection="reuse-same", mode="vector").hits
        b = seek.search(query, k=5, collection="reuse-fresh", mode="vector").hits
        assert [h.chunk for h in a] == [h.chunk for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


def test_a_metadata_or_source_change_embeds_nothing_and_a_title_change_everything(
    seek: Seek, embedder: CountingEmbedder
) -> None:
    seek.ingest_documents([LONG], collection="reuse-meta")
    before = embedder.texts_embedded

    meta = seek.ingest_documents([replace(LONG, metadata={"rev": 2}, source="notes/long.md")], collection="reuse-meta")

    assert (meta.documents_updated, meta.chunks_embedded, meta.chunks_reused) == (1, 0, len(TOPICS))
    assert embedder.texts_embedded == before
    stored = seek.document("long", collection="reuse-meta")
    assert (stored.metadata, stored.source) == ({"rev": 2}, "notes/long.md")
    # The title is embedded with every chunk (decision 0002): a new title is new text for the model everywhere.
    titled = seek.ingest_documents([replace(LONG, title="A cabinet of curiosities")], collection="reuse-meta")
    assert (titled.chunks_embedded, titled.chunks_reused) == (len(TOPICS), 0)
    assert embedder.texts_embedded - before == len(TOPICS)


def test_another_tenants_identical_text_is_never_reused(seek: Seek, embedder: CountingEmbedder) -> None:
    seek.ingest_documents([LONG], collection="reuse-tenants", tenant="reuse-a")
    before = embedder.texts_embedded
    # The same id, title and text for another tenant, edited in one paragraph: nothing of tenant a's is reused.
    other = seek.ingest_documents(
        [replace(LONG, text=_long_text(_edited()))], collection="reuse-tenants", tenant="reuse-b"
    )
    assert (other.documents_added, other.chunks_embedded, other.chunks_reused) == (1, len(TOPICS), 0)
    assert embedder.texts_embedded - before == len(TOPICS)
    # Its own earlier version is: reverting the paragraph embeds just that chunk again.
    back = seek.ingest_documents([LONG], collection="reuse-tenants", tenant="reuse-b")
    assert (back.chunks_embedded, back.chunks_reused) == (1, len(TOPICS) - 1)


def test_stored_hashes_are_keyed_by_the_model_identity(
    seek: Seek, embedder: CountingEmbedder, database_url: str
) -> None:
    """A chunk's embed hash covers the model's identity: another version, name or precision never finds it."""
    seek.ingest_documents([LONG], collection="reuse-model")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.embed_hash FROM chunks c JOIN documents d ON d.id = c.document_id "
            "JOIN collections k ON k.id = d.collection_id WHERE k.name = 'reuse-model' ORDER BY c.position"
        ).fetchall()
    stored = [bytes(r[0]) for r in rows]
    info = embedder.info
    texts = [f"{LONG.title}\n{line}" for line in _chunk_texts()]
    assert stored == [embed_hash(t, info) for t in texts]
    for other in (replace(info, version="other"), replace(info, name="other"), replace(info, precision="float16")):
        assert not {embed_hash(t, other) for t in texts} & set(stored)


def _chunk_texts() -> list[str]:
    return [f"## Section {i}\n\n{p} {p}" for i, p in enumerate(TOPICS)]
