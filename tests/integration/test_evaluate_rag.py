"""RAG evaluation end to end on a tiny synthetic dataset: the real model and database, the extractive generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgseek import AsyncSeek
from pgseek.errors import InputError
from pgseek.evaluate import EvalProgress, evaluate, evaluate_rag, load_beir, load_rag_claims

SENTENCES = {
    "kettle": ["Descale the kettle every month with white vinegar.", "Rinse it twice before the next boil."],
    "bike": ["Oil the bike chain every 300 kilometres.", "Wipe off the excess oil so the chain stays clean."],
    "reef": ["Coral bleaching is caused by rising sea temperatures.", "Bleached corals starve without their algae."],
}
CLAIMS = [
    # answerable: gold document and evidence sentence
    {"id": "c1", "claim": "How often should a bike chain be oiled?", "cited_doc_ids": ["bike"],
     "evidence": {"bike": [{"label": "SUPPORT", "sentences": [0]}]}, "label": "SUPPORT"},
    # answerable, but the gold judgment names another document: the citation is not gold
    {"id": "c2", "claim": "What causes coral bleaching?", "cited_doc_ids": ["kettle"],
     "evidence": {"kettle": [{"sentences": [1]}]}, "label": "CONTRADICT"},
    # nothing in the corpus answers it
    {"id": "c3", "claim": "Who painted the Mona Lisa?", "cited_doc_ids": ["reef"], "evidence": {}, "label": "NOINFO"},
]  # fmt: skip


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "tinyrag"
    (root / "qrels").mkdir(parents=True)
    corpus = [{"_id": d, "title": "", "text": " ".join(s)} for d, s in SENTENCES.items()]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "corpus_sentences.jsonl").write_text(
        "".join(json.dumps({"_id": d, "sentences": s}) + "\n" for d, s in SENTENCES.items())
    )
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "oiling a bike chain"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tbike\t1\n")
    (root / "rag_dev_claims.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CLAIMS))
    return root


async def test_rag_evaluation(dataset: Path, settings: Any, local_embedder: Any) -> None:
    claims = load_rag_claims(dataset / "rag_dev_claims.jsonl")
    events: list[EvalProgress] = []
    async with AsyncSeek(settings, embedder=local_embedder) as seek:
        retrieval = await evaluate(seek, load_beir(dataset), modes=("hybrid",))
        report = await evaluate_rag(seek, claims, collection=retrieval.collection, k=3, progress=events.append)
        with pytest.raises(InputError, match="mode"):
            await evaluate_rag(seek, claims, collection=retrieval.collection, mode="fuzzy")
    per_claim = {c.claim_id: c for c in report.per_claim}
    assert per_claim["c1"].cited[0] == "bike" and per_claim["c1"].cites_gold and per_claim["c1"].has_evidence
    assert per_claim["c2"].cited[0] == "reef" and not per_claim["c2"].cites_gold
    assert per_claim["c2"].has_evidence is False
    assert per_claim["c3"].refused and per_claim["c3"].cited == () and per_claim["c3"].has_evidence is None
    s = report.scores
    assert (s.claims, s.answered, s.refused, s.failed) == (3, 2, 1, 0)
    assert s.cites_gold == pytest.approx(1 / 3) and s.evidence == pytest.approx(1 / 2) and s.evidence_claims == 2
    assert s.citation_precision == pytest.approx(per_claim["c1"].gold_cited / s.citations)
    assert s.refusal_rate == pytest.approx(1 / 3) and s.refusal_rate_by_label["NOINFO"] == 1.0
    assert report.generator.startswith("extractive") and report.mode == "hybrid" and report.k == 3
    assert report.dataset == "tinyrag" and report.collection == "eval-tinyrag"
    assert 0 < report.latency_p50_ms <= report.latency_p99_ms
    assert events[-1] == EvalProgress("rag", 3, 3)
    body = json.loads(json.dumps(report.to_json(per_claim=True)))
    assert body["cites_gold"] == s.cites_gold and len(body["per_claim"]) == 3
