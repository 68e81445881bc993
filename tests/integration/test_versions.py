"""Embedding versions (decision 0018) against the real server and the real model: a chunking change goes add ->
backfill -> compare -> activate -> roll back -> retire; writes reach every live version; a deleted document never
comes back; searches across the switch see one version at a time; a drifted model is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from numpy.typing import NDArray

from pgseek import Document, Seek
from pgseek.config import Settings
from pgseek.errors import ConflictError, EmbeddingDriftError, NotFoundError
from pgseek.versions.backfill import GROUP_DOCUMENTS
from tests.conftest import CountingEmbedder
from tests.embeddings_server import EmbeddingsServer

SUBJECTS = [
    ("aqueducts", "Roman aqueducts", "Roman aqueducts carried water across valleys on stone arches."),
    ("bees", "Honeybees", "Honeybees tell their hive where flowers are with a waggle dance."),
    ("glaciers", "Glaciers", "Glaciers carve U-shaped valleys as they grind rock beneath moving ice."),
    ("sourdough", "Sourdough", "A sourdough starter is a culture of wild yeast and lactic acid bacteria."),
    ("lighthouses", "Lighthouses", "Lighthouses burned whale oil before Fresnel lenses made beams reach farther."),
    ("octopus", "Octopuses", "Octopuses taste with the suckers on their arms, each acting almost on its own."),
    ("press", "Printing press", "The printing press with movable type spread pamphlets across Europe."),
    ("coral", "Coral reefs", "Coral reefs grow from the limestone skeletons of tiny polyps and algae."),
    ("violins", "Violin making", "Violin makers carve spruce tops and maple backs, then tune the plates."),
    ("monsoon", "Monsoons", "Monsoon winds reverse with the seasons, bringing months of rain to South Asia."),
]
QUERIES = [
    ("how did romans move water", "aqueducts"),
    ("bee dance", "bees"),
    ("ice shaping valleys", "glaciers"),
    ("wild yeast bread", "sourdough"),
    ("seasonal rain winds", "monsoon"),
]


def _documents(repeat: int = 6) -> list[Document]:
    """Long enough (the sentence repeated, varied) that 64- and 32-token chunkings differ."""
    return [
        Document(key, " ".join(f"{text} Note {i} on {title.lower()}." for i in range(repeat)), title=title)
        for key, title, text in SUBJECTS
    ]


def _golden(tmp_path: Path) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps({"query": q, "relevant": [d]}) + "\n" for q, d in QUERIES))
    return path


def _versions_of_hits(database_url: str, chunk_ids: list[int]) -> set[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT DISTINCT version_id FROM chunks WHERE id = ANY(%s)", (chunk_ids,)).fetchall()
    return {int(r[0]) for r in rows}


def _scalar(database_url: str, statement: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(statement, params).fetchone()
    return None if row is None else row[0]


class _Stop(Exception):
    pass


def _setup(seek: Seek, name: str) -> None:
    seek.ingest_documents(_documents(), collection=name)


def test_a_chunking_change_goes_add_backfill_compare_activate_rollback_retire(
    seek: Seek, database_url: str, tmp_path: Path
) -> None:
    _setup(seek, "life")
    (first,) = seek.models.list("life")
    assert (first.state, first.chunk_tokens, first.documents_done) == ("active", 200, len(SUBJECTS))

    added = seek.models.add("life", chunk_tokens=32, chunk_overlap=4)
    assert (added.state, added.chunk_tokens, added.documents_done, added.backfill_stopped) == ("candidate", 32, 0, True)
    before = seek.search("bee dance", collection="life", k=3)
    report = seek.models.backfill("life")
    status = seek.models.status("life", added.id)
    assert report.documents_written == len(SUBJECTS) and status.backfilled_at is not None and status.index_ready
    assert status.chunks > first.chunks  # smaller chunks, more of them

    # Searches still read the active version until the switch.
    during = seek.search("bee dance", collection="life", k=3)
    assert [h.chunk_id for h in during.hits] == [h.chunk_id for h in before.hits]
    assert _versions_of_hits(database_url, [h.chunk_id for h in during.hits]) == {first.id}

    with pytest.raises(ConflictError, match="compared"):
        seek.models.activate("life")
    comparison = seek.models.compare(_golden(tmp_path), collection="life")
    assert comparison.queries == len(QUERIES) and comparison.candidate.ndcg_at_10 is not None
    assert comparison.better is not None and "nDCG@10" in comparison.verdict
    activated = seek.models.activate("life", force=comparison.better is False)
    assert activated.state == "active"
    after = seek.search("bee dance", collection="life", k=3)
    assert after.hits[0].document_id == "bees"
    assert _versions_of_hits(database_url, [h.chunk_id for h in after.hits]) == {added.id}
    states = {v.id: v.state for v in seek.models.list("life")}
    assert states == {first.id: "previous", added.id: "active"}

    rolled = seek.models.rollback("life")
    assert rolled.id == first.id and rolled.state == "active"
    back = seek.search("bee dance", collection="life", k=3)
    assert _versions_of_hits(database_url, [h.chunk_id for h in back.hits]) == {first.id}

    retired = seek.models.retire("life")
    assert (retired.id, retired.state) == (added.id, "retired")
    assert _scalar(database_url, "SELECT to_regclass(%s)", (added.table,)) is None
    assert _scalar(database_url, "SELECT count(*) FROM chunks WHERE version_id = %s", (added.id,)) == 0
    with pytest.raises(ConflictError):
        seek.models.retire("life", first.id)  # the active version


def test_writes_during_a_candidate_reach_it_and_a_deleted_document_never_comes_back(
    seek: Seek, database_url: str
) -> None:
    _setup(seek, "dual")
    added = seek.models.add("dual", chunk_tokens=32, chunk_overlap=4)
    # Written while the candidate waits for its backfill: both versions get it.
    seek.ingest_documents(
        [Document("late", "Tardigrades survive the vacuum of space.", title="Tardigrades")], collection="dual"
    )
    counted = (
        "SELECT count(DISTINCT c.version_id) FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.external_id = %s AND d.collection_id = (SELECT id FROM collections WHERE name = 'dual')"
    )
    assert _scalar(database_url, counted, ("late",)) == 2
    seek.delete_document("coral", collection="dual")
    seek.models.backfill("dual")
    status = seek.models.status("dual", added.id)
    assert status.documents_done == status.documents_total == len(SUBJECTS)  # 10 - coral + late
    assert _scalar(database_url, counted, ("coral",)) == 0
    # An edit after the backfill reaches both versions, and replaces the old chunks in both.
    seek.ingest_documents(
        [Document("late", "Tardigrades are also called water bears.", title="Tardigrades")], collection="dual"
    )
    texts = (
        "SELECT array_agg(DISTINCT c.text LIKE '%%water bears%%') FROM chunks c "
        "JOIN documents d ON d.id = c.document_id WHERE d.external_id = 'late'"
    )
    assert _scalar(database_url, texts) == [True]
    assert _scalar(database_url, counted, ("late",)) == 2


def test_activation_waits_for_a_complete_candidate_a_good_comparison_and_one_previous_version(
    seek: Seek, database_url: str
) -> None:
    _setup(seek, "guards")
    seek.models.add("guards", chunk_tokens=32, chunk_overlap=4)
    with pytest.raises(ConflictError, match="backfill"):
        seek.models.activate("guards", force=True)
    with pytest.raises(ConflictError, match="candidate version already"):
        seek.models.add("guards", chunk_tokens=48, chunk_overlap=4)
    seek.models.backfill("guards")
    (candidate,) = [v for v in seek.models.list("guards") if v.state == "candidate"]
    worse = {"dataset": "golden", "quality": {"active": {"ndcg@10": 0.80}, "candidate": {"ndcg@10": 0.75}}}
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE embedding_versions SET comparison = %s WHERE id = %s", (json.dumps(worse), candidate.id))
    with pytest.raises(ConflictError, match="worse by more than the tolerance"):
        seek.models.activate("guards")
    assert seek.models.activate("guards", tolerance=0.06).state == "active"  # within a wider tolerance
    seek.models.add("guards", chunk_tokens=48, chunk_overlap=4)
    seek.models.backfill("guards")
    with pytest.raises(ConflictError, match="previous version"):
        seek.models.activate("guards", force=True)
    with pytest.raises(NotFoundError):
        seek.models.status("guards", 999_999)


def test_searches_across_activation_and_rollback_never_fail_nor_mix_versions(seek: Seek, database_url: str) -> None:
    _setup(seek, "switch")
    seek.models.add("switch", chunk_tokens=32, chunk_overlap=4)
    seek.models.backfill("switch")
    failures: list[BaseException] = []
    seen: list[list[int]] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            try:
                for mode in ("vector", "hybrid", "keyword"):
                    result = seek.search("water", collection="switch", k=5, mode=mode)
                    seen.append([h.chunk_id for h in result.hits])
            except BaseException as exc:
                failures.append(exc)
                return

    worker = threading.Thread(target=search_loop)
    worker.start()
    try:
        seek.models.activate("switch", force=True)
        for _ in range(3):
            seek.models.rollback("switch")
    finally:
        stop.set()
        worker.join(60)
    assert not failures
    assert len(seen) > 3
    assert all(len(_versions_of_hits(database_url, ids)) == 1 for ids in seen if ids)


def test_a_drifted_model_is_refused_before_anything_is_written(
    settings: Settings, embeddings_server: EmbeddingsServer, database_url: str
) -> None:
    remote = settings.model_copy(
        update={"embed_provider": "openai", "embed_base_url": embeddings_server.url, "model": "minilm-remote"}
    )
    with Seek(remote) as seek:
        seek.ingest_documents(_documents(2), collection="drift")
    honest = embeddings_server.vectors

    def drifted(texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = np.asarray(honest(texts), dtype=np.float64)
        noisy = vectors + np.random.default_rng(7).normal(0, 0.05, vectors.shape)
        unit: NDArray[np.float32] = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        return unit

    embeddings_server.vectors = drifted
    with Seek(remote) as seek, pytest.raises(EmbeddingDriftError, match="probe"):
        seek.ingest_documents([Document("new", "Something new to write.")], collection="drift")
    assert _scalar(database_url, "SELECT count(*) FROM documents WHERE external_id = 'new'") == 0
    embeddings_server.vectors = honest
    with Seek(remote) as seek:
        report = seek.ingest_documents([Document("new", "Something new to write.")], collection="drift")
    assert report.documents_added == 1


def test_a_killed_backfill_resumes_with_no_duplicate_and_no_missing_row(seek: Seek, database_url: str) -> None:
    """The kill -9 test proper runs the backfill in a subprocess (tests/integration/test_versions_kill.py); here a
    backfill stopped between groups (its connection closed mid-run) is resumed by the next run."""
    many = [replace(d, external_id=f"{d.external_id}-{i}") for i in range(4) for d in _documents(2)]
    seek.ingest_documents(many, collection="resume")  # more than one backfill group (GROUP_DOCUMENTS)
    assert len(many) > GROUP_DOCUMENTS
    added = seek.models.add("resume", chunk_tokens=32, chunk_overlap=4)

    def stop_after_first_group(progress: Any) -> None:
        if progress.documents_done > 0:
            raise _Stop

    with pytest.raises(_Stop):
        seek.models.backfill("resume", progress=stop_after_first_group)
    partial = seek.models.status("resume", added.id)
    assert 0 < partial.documents_done < partial.documents_total and partial.backfill_stopped
    seek.models.backfill("resume")
    done = seek.models.status("resume", added.id)
    assert done.documents_done == done.documents_total and done.backfilled_at is not None
    duplicates = (
        "SELECT count(*) FROM (SELECT document_id, position FROM chunks WHERE version_id = %s "
        "GROUP BY 1, 2 HAVING count(*) > 1) AS d"
    )
    assert _scalar(database_url, duplicates, (added.id,)) == 0
    vectors = _scalar(database_url, f'SELECT count(*) FROM "{done.table}"')
    assert vectors == done.chunks


def test_a_model_change_backfills_through_the_new_model_and_searches_embed_queries_with_it(
    settings: Settings, embedder: CountingEmbedder, embeddings_server: EmbeddingsServer, database_url: str
) -> None:
    """From the local model to an OpenAI-compatible one (the local model's vectors served over HTTP): after the
    switch, queries go to the new model's server; after the rollback, to the local model again."""
    with Seek(settings.model_copy(update={"embed_base_url": embeddings_server.url}), embedder=embedder) as seek:
        _setup(seek, "model")
        added = seek.models.add("model", provider="openai", model="minilm-remote")
        assert (added.provider, added.model, added.chunk_tokens) == ("openai", "minilm-remote", 200)
        seek.models.backfill("model")
        backfilled = len(embeddings_server.requests)
        assert backfilled > 0
        seek.models.activate("model", force=True)
        hit = seek.search("bee dance", collection="model", k=1).hits[0]
        assert hit.document_id == "bees" and len(embeddings_server.requests) == backfilled + 1
        assert embeddings_server.inputs()[-1] == ["bee dance"]
        seek.models.rollback("model")
        assert seek.search("bee dance", collection="model", k=1).hits[0].document_id == "bees"
        assert len(embeddings_server.requests) == backfilled + 1  # the local model again


def test_documents_deleted_while_the_backfill_runs_never_come_back(seek: Seek, database_url: str) -> None:
    many = [replace(d, external_id=f"{d.external_id}-{i}") for i in range(4) for d in _documents(2)]
    seek.ingest_documents(many, collection="deleting")
    added = seek.models.add("deleting", chunk_tokens=32, chunk_overlap=4)
    doomed = [many[0].external_id, many[-1].external_id]  # one backfilled before the delete, one not yet
    deleted: list[int] = []

    def delete_midway(progress: Any) -> None:
        if progress.documents_done > 0 and not deleted:
            with psycopg.connect(database_url, autocommit=True) as conn:
                cur = conn.execute(
                    "DELETE FROM documents WHERE external_id = ANY(%s) "
                    "AND collection_id = (SELECT id FROM collections WHERE name = 'deleting')",
                    (doomed,),
                )
                deleted.append(cur.rowcount)

    seek.models.backfill("deleting", progress=delete_midway)
    assert deleted == [2]
    done = seek.models.status("deleting", added.id)
    assert done.documents_done == done.documents_total == len(many) - 2
    left = (
        "SELECT count(*) FROM chunks c WHERE c.version_id = %s AND NOT EXISTS "
        "(SELECT 1 FROM documents d WHERE d.id = c.document_id)"
    )
    assert _scalar(database_url, left, (added.id,)) == 0
    seek.models.activate("deleting", force=True)
    found = {h.document_id for h in seek.search("monsoon rain", collection="deleting", k=50).hits}
    assert not found & set(doomed)
