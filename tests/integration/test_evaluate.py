"""Evaluation end to end on the real server and model: a tiny BEIR dataset, a golden set, the ANN probe, charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgseek import AsyncSeek
from pgseek.errors import NotFoundError
from pgseek.evaluate import EvalProgress, evaluate, load_beir, load_golden, plot_ann, plot_report

CORPUS = {
    "d1": ("Eiffel Tower", "The Eiffel Tower is a wrought-iron lattice tower in Paris, France, 330 metres tall."),
    "d2": ("Photosynthesis", "Photosynthesis turns sunlight, water and carbon dioxide into glucose and oxygen."),
    "d3": ("Mitochondria", "Mitochondria are the powerhouse of the cell, producing ATP by cellular respiration."),
    "d4": ("Python", "Python is a programming language known for readable syntax and a large standard library."),
    "d5": ("Great Barrier Reef", "The Great Barrier Reef off Queensland, Australia, is the largest coral reef."),
    "d6": ("Espresso", "Espresso is brewed by forcing hot water through finely ground coffee under pressure."),
    "d7": ("Chlorophyll", "Chlorophyll in chloroplasts absorbs the light energy that plants use to make sugar."),
    "d8": ("Mount Everest", "Mount Everest in the Himalayas is the highest mountain above sea level."),
}
QUERIES = {
    "q1": "How tall is the Eiffel Tower in Paris?",
    "q2": "How do plants make glucose from sunlight?",
    "q3": "How is espresso coffee brewed?",
    "q4": "largest coral reef in Australia",
    "q5": "a query without judgments is left out",
}
QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d7", 1), ("q3", "d6", 1), ("q4", "d5", 2), ("q4", "d8", 0)]
MODES = ("vector", "keyword", "hybrid")


@pytest.fixture()
def beir(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    corpus = [{"_id": i, "title": t, "text": x} for i, (t, x) in CORPUS.items()]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES.items()))
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{g}" for q, d, g in QRELS)]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


async def test_beir_dataset_in_three_modes(beir: Path, tmp_path: Path, settings: Any, embedder: Any) -> None:
    dataset = load_beir(beir)
    assert list(dataset.queries) == ["q1", "q2", "q3", "q4"]
    events: list[EvalProgress] = []
    async with AsyncSeek(settings, embedder=embedder) as seek:
        report = await evaluate(seek, dataset, modes=MODES, progress=events.append)
        assert report.collection == "eval-tiny" and report.k == 10 and report.dataset == "tiny"
        assert report.ingest is not None and report.ingest.documents_added == 8 and report.ingest.ok
        assert [r.mode for r in report.rows] == list(MODES)
        for row in report.rows:
            assert row.queries == 4 and row.failed == 0 and len(row.per_query) == 4
            for value in (row.ndcg_at_k, row.mrr_at_k, row.recall_at_k, row.recall_at_100):
                assert 0.0 <= value <= 1.0
            assert 0 < row.latency_p50_ms <= row.latency_p99_ms
        vector = report.row("vector")
        by_query = {q.query_id: q for q in vector.per_query}
        assert by_query["q1"].ndcg_at_k == pytest.approx(1.0) and by_query["q1"].mrr_at_k == 1.0
        assert by_query["q3"].ndcg_at_k == pytest.approx(1.0)
        assert vector.recall_at_100 == pytest.approx(1.0)  # eight documents: every one is within the top 100
        assert report.row("hybrid").recall_at_100 == pytest.approx(1.0)
        stages = {e.stage for e in events}
        assert stages == {"ingest", *MODES}
        assert events[-1] == EvalProgress("hybrid", 4, 4)
        payload = json.loads(json.dumps(report.to_json(per_query=True)))
        assert payload["modes"][0]["ndcg@10"] == vector.ndcg_at_k and payload["ingest"]["documents_added"] == 8

        embedded = embedder.texts_embedded
        again = await evaluate(seek, dataset, modes=("vector",))
        assert again.ingest is not None
        assert again.ingest.documents_unchanged == 8 and again.ingest.chunks_embedded == 0
        assert embedder.texts_embedded - embedded == len(dataset.queries)  # the queries, nothing else
        assert again.row("vector").ndcg_at_k == pytest.approx(vector.ndcg_at_k)

        probe = await seek.ann_recall(list(dataset.queries.values()), collection=report.collection, ef_values=(10, 40))
        assert [r.ef_search for r in probe.rows] == [10, 40] and probe.queries == 4
        for r in probe.rows:
            assert 0.0 <= r.recall_at_k <= 1.0 and 0 < r.latency_p50_ms <= r.latency_p99_ms
        assert probe.rows[-1].recall_at_k == pytest.approx(1.0)  # eight vectors: the graph finds them all
        assert probe.exact_latency_p50_ms > 0
        assert json.dumps(probe.to_json())

    for path in (plot_report(report, tmp_path / "eval.png"), plot_ann(probe, tmp_path / "ann.png")):
        assert path.read_bytes().startswith(b"\x89PNG")


async def test_golden_set_against_an_ingested_collection(
    beir: Path, tmp_path: Path, settings: Any, embedder: Any
) -> None:
    golden = tmp_path / "golden.jsonl"
    records = [
        {"id": "tower", "query": "Eiffel Tower height", "relevant": ["d1"]},
        {"query": "coffee brewing under pressure", "relevant": {"d6": 2, "d3": 0}},
        {"id": "long", "query": "tower " * 400, "relevant": ["d1"]},  # longer than the model reads
    ]
    golden.write_text("".join(json.dumps(r) + "\n" for r in records))
    dataset = load_golden(golden)
    async with AsyncSeek(settings, embedder=embedder) as seek:
        await seek.ingest([beir / "corpus.jsonl"], collection="handbook")
        report = await evaluate(seek, dataset, modes=("vector", "keyword"), k=5, collection="handbook")
        assert report.ingest is None and report.collection == "handbook" and report.k == 5
        vector, keyword = report.rows
        assert vector.failed == 1 and keyword.failed == 0  # keyword search has no length limit
        scores = {q.query_id: q for q in vector.per_query}
        assert scores["tower"].ndcg_at_k == pytest.approx(1.0) and scores["2"].ndcg_at_k == pytest.approx(1.0)
        assert scores["long"].failed and scores["long"].latency_ms is None and scores["long"].ndcg_at_k == 0.0
        assert vector.ndcg_at_k == pytest.approx(2 / 3)
        assert "ndcg@5" in report.to_json()["modes"][0]
        with pytest.raises(NotFoundError):
            await evaluate(seek, dataset, modes=("vector",), collection="no-such-collection")
