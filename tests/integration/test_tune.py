"""Fusion tuned per collection, end to end on the real server and model: a small BEIR dataset built here is tuned,
the setting stored on the collection, used by later hybrid searches and asks, overridden by explicit parameters; the
CLI's report and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgseek import Seek
from pgseek.errors import InputError, QueryError
from pgseek.evaluate.tune import grid, load_tuning_sets
from pgseek.search.hybrid import DEFAULT_FUSION, Fusion
from pgseek.types import Hit

COLLECTION = "tune"
# Part numbers and error codes that only the keyword leg matches exactly, next to prose the vector leg matches.
CORPUS = {
    "d1": ("Pump P-4471", "Replace gasket G-17 on pump P-4471 when the pressure drops below two bars."),
    "d2": ("Pump P-4417", "Pump P-4417 has no gasket; its seal kit is S-203 and it runs up to six bars."),
    "d3": ("Valve V-88", "Valve V-88 closes the cooling loop when the temperature sensor reports an error E-21."),
    "d4": ("Error E-12", "Error E-12 means the valve V-88 is stuck open: free it, then reset the controller."),
    "d5": ("Pressure", "When water pressure falls, pumps lose prime and the flow stops until they are refilled."),
    "d6": ("Cooling", "A cooling loop carries heat away from the engine to the radiator with a water pump."),
    "d7": ("Seals", "Gaskets and seals keep fluids inside a pump; worn ones leak and let the pressure drop."),
    "d8": ("Controller", "Resetting the controller clears every error code after the fault has been fixed."),
}
QUERIES = {
    "t1": "gasket for pump P-4471",
    "t2": "seal kit of P-4417",
    "t3": "what does error E-21 mean",
    "t4": "valve stuck open E-12",
    "t5": "why does a pump lose pressure",
    "t6": "how is heat carried away from an engine",
    "h1": "P-4471 pressure limit",
    "h2": "E-12 valve fix",
    "h3": "leaking pump seals",
}
QRELS = {
    "train": [("t1", "d1"), ("t2", "d2"), ("t3", "d3"), ("t4", "d4"), ("t5", "d5"), ("t6", "d6")],
    "test": [("h1", "d1"), ("h2", "d4"), ("h3", "d7")],
}


@pytest.fixture(scope="module")
def beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("beir") / "pumps"
    (root / "qrels").mkdir(parents=True)
    corpus = [{"_id": i, "title": t, "text": x} for i, (t, x) in CORPUS.items()]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES.items()))
    for split, pairs in QRELS.items():
        lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in pairs)]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any, beir: Path) -> Iterator[Seek]:
    with Seek(settings, embedder=local_embedder) as s:
        assert s.ingest([beir / "corpus.jsonl"], collection=COLLECTION).ok
        yield s


def _rrf(hit: Hit, fusion: Fusion) -> float:
    weights = fusion.weights()
    return sum(weights[name] / (fusion.rrf_k + leg.rank) for name, leg in hit.legs.items())


def test_tuning_stores_a_setting_that_later_searches_use(seek: Seek, beir: Path) -> None:
    train, held_out, held_out_name = load_tuning_sets(beir)
    assert (list(train.queries), list(held_out.queries), held_out_name) == (
        ["t1", "t2", "t3", "t4", "t5", "t6"],
        ["h1", "h2", "h3"],
        "test",
    )
    seek.set_fusion(None, collection=COLLECTION)
    report = seek.tune(train, held_out, collection=COLLECTION)
    assert report.before == DEFAULT_FUSION and report.chosen in grid() and report.stored
    assert report.train_after >= report.train_before  # the default is in the grid: tuning never fits worse
    assert (report.train_queries, report.held_out_queries, report.settings_tried) == (6, 3, len(grid()))
    assert 0.0 <= report.held_out_before <= 1.0 and 0.0 <= report.held_out_after <= 1.0
    assert seek.fusion(COLLECTION) == report.chosen
    payload = report.to_json()
    assert (
        payload["chosen"] == report.chosen.to_json() and payload["held_out_ndcg@10"]["after"] == report.held_out_after
    )

    # A stored setting is what a hybrid search without fusion parameters uses: RRF k=5, keyword weighted 3:1.
    stored = Fusion("rrf", rrf_k=5, vector_weight=0.25, keyword_weight=0.75)
    seek.set_fusion(stored, collection=COLLECTION)
    result = seek.search("gasket for pump P-4471", collection=COLLECTION, mode="hybrid", k=5)
    assert result.hits and all(h.score == pytest.approx(_rrf(h, stored)) for h in result.hits)
    # Explicit parameters win, the default filling in what they do not name.
    explicit = seek.search("gasket for pump P-4471", collection=COLLECTION, mode="hybrid", k=5, rrf_k=60)
    assert all(h.score == pytest.approx(_rrf(h, DEFAULT_FUSION)) for h in explicit.hits)
    scores = seek.search("gasket for pump P-4471", collection=COLLECTION, mode="hybrid", k=5, fusion="minmax")
    assert scores.hits[0].score <= DEFAULT_FUSION.vector_weight + DEFAULT_FUSION.keyword_weight
    assert all(h.score != pytest.approx(_rrf(h, stored)) for h in scores.hits)
    # A keyword-only setting makes hybrid rank as the keyword leg does; ask reads the same search.
    seek.set_fusion(Fusion("minmax", vector_weight=0.0, keyword_weight=1.0), collection=COLLECTION)
    hybrid = seek.search("valve stuck open E-12", collection=COLLECTION, mode="hybrid", k=3)
    keyword = seek.search("valve stuck open E-12", collection=COLLECTION, mode="keyword", k=3)
    matched = len(keyword.hits)
    assert [h.chunk_id for h in hybrid.hits[:matched]] == [h.chunk_id for h in keyword.hits]
    assert all(h.score == 0.0 for h in hybrid.hits[matched:])  # the vector leg's own hits weigh nothing
    answer = seek.ask("What does error E-12 mean?", collection=COLLECTION)
    assert not answer.refused and answer.citations[0].document_id == "d4"
    seek.set_fusion(None, collection=COLLECTION)
    assert seek.fusion(COLLECTION) is None


def test_a_dry_run_stores_nothing(seek: Seek, beir: Path) -> None:
    seek.set_fusion(None, collection=COLLECTION)
    train, held_out, _ = load_tuning_sets(beir)
    report = seek.tune(train, held_out, collection=COLLECTION, store=False)
    assert not report.stored and seek.fusion(COLLECTION) is None


def test_bad_fusion_parameters_and_datasets_are_clear_errors(seek: Seek, beir: Path, tmp_path: Path) -> None:
    for given, field in (
        ({"rrf_k": -1}, "rrf_k"),
        ({"fusion": "borda"}, "fusion"),
        ({"keyword_weight": -2.0}, "keyword_weight"),
    ):
        with pytest.raises(QueryError) as caught:
            seek.search("pump", collection=COLLECTION, mode="hybrid", **given)
        assert caught.value.field == field
    with pytest.raises(InputError, match="held-out split"):
        load_tuning_sets(beir, "test")
    with pytest.raises(InputError, match="no qrels for split 'dev'"):
        load_tuning_sets(beir, "dev")
    with pytest.raises(InputError, match="does not exist"):
        load_tuning_sets(tmp_path / "nowhere")
    golden = tmp_path / "one.jsonl"
    golden.write_text(json.dumps({"query": "pump", "relevant": ["d1"]}) + "\n")
    with pytest.raises(InputError, match="too few to split"):
        load_tuning_sets(golden)


def test_the_cli_reports_before_and_after(beir: Path, database_url: str, pgseek_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}

    def pgseek(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pgseek", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)

    done = pgseek("tune", str(beir), "--collection", "tune-cli", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["collection"] == "tune-cli" and report["split"] == "train" and report["held_out"] == "test"
    assert set(report["held_out_ndcg@10"]) == {"before", "after"} and report["stored"] is False
    missing = pgseek("tune", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "does not exist" in missing.stderr
    wrong = pgseek("tune", str(beir), "--split", "test")
    assert wrong.returncode == 2 and "held-out split" in wrong.stderr
