"""BEIR folders and golden sets: what loads, what is kept, and the errors for broken input (no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgseek.errors import InputError
from pgseek.evaluate.datasets import EvalDataset, load_beir, load_golden


def write_beir(root: Path, *, qrels: str | None = None, queries: list[object] | None = None) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(4)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    if queries is None:
        queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}, {"_id": 3, "text": "third"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    if qrels is None:
        qrels = "query-id\tcorpus-id\tscore\nq1\td0\t2\nq1\td1\t1\nq1\td2\t0\nq2\td3\t0\n3\td3\t1\n"
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_load_beir_keeps_grades_and_judged_queries(tmp_path: Path) -> None:
    ds = load_beir(write_beir(tmp_path / "tiny"))
    assert ds.name == "tiny"
    assert ds.corpus_path == tmp_path / "tiny" / "corpus.jsonl"
    # q2 is judged only non-relevant: dropped; integer ids become strings
    assert ds.queries == {"q1": "first", "3": "third"}
    assert ds.qrels == {"q1": {"d0": 2, "d1": 1, "d2": 0}, "3": {"d3": 1}}


def test_load_beir_accepts_a_str_path_and_no_header(tmp_path: Path) -> None:
    ds = load_beir(str(write_beir(tmp_path / "x", qrels="q1 d0 1\r\n\nq2\td1\t1\n")))
    assert ds.qrels == {"q1": {"d0": 1}, "q2": {"d1": 1}}


def test_missing_split_lists_the_available_ones(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "d")
    (root / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t1\n")
    with pytest.raises(InputError, match=r"split 'train'.*available: dev, test") as info:
        load_beir(root, split="train")
    assert info.value.field == "split"
    assert load_beir(root, split="dev").queries == {"q1": "first"}


@pytest.mark.parametrize(("missing", "field"), [("corpus.jsonl", "corpus"), ("queries.jsonl", "queries")])
def test_missing_file(tmp_path: Path, missing: str, field: str) -> None:
    root = write_beir(tmp_path / "d")
    (root / missing).unlink()
    with pytest.raises(InputError, match=missing) as info:
        load_beir(root)
    assert info.value.field == field


def test_missing_qrels_folder_and_not_a_folder(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "d")
    (root / "qrels" / "test.tsv").unlink()
    with pytest.raises(InputError, match=r"no <split>\.tsv") as info:
        load_beir(root)
    assert info.value.field == "qrels"
    with pytest.raises(InputError, match="not a folder"):
        load_beir(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td0\n", r"test.tsv:2: expected 3 tab-separated fields"),
        ("query-id\tcorpus-id\tscore\nq1\td0\t1\nq1\td1\thigh\n", r"test.tsv:3: score 'high' is not an integer"),
        ("query-id\tcorpus-id\tscore\nq1\td0\t0\n", "judges no document relevant"),
        ("query-id\tcorpus-id\tscore\nq9\td0\t1\n", "not in queries.jsonl.*'q9'"),
    ],
)
def test_malformed_qrels(tmp_path: Path, qrels: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_beir(write_beir(tmp_path / "d", qrels=qrels))


def test_malformed_queries_name_the_line(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "d")
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n{"_id": "q2", "text": \n')
    with pytest.raises(InputError, match=r"queries.jsonl:2: invalid JSON") as info:
        load_beir(root)
    assert info.value.field == "queries"
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n\n{"_id": "q2"}\n')
    with pytest.raises(InputError, match=r"queries.jsonl:3: field 'text'"):
        load_beir(root)
    (root / "queries.jsonl").write_text('{"text": "first"}\n')
    with pytest.raises(InputError, match=r"queries.jsonl:1: field '_id'"):
        load_beir(root)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n')
    with pytest.raises(InputError, match="duplicate query id 'q1'"):
        load_beir(root)
    (root / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not valid UTF-8"):
        load_beir(root)


def test_golden_set_lists_and_grades(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    lines = [
        {"id": "rotate", "query": "how do I rotate keys?", "relevant": ["doc-7", "doc-9"]},
        {"query": "pricing of the pro plan", "relevant": {"pricing": 2, "faq": 1, "blog": 0}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    ds = load_golden(path)
    assert ds.name == "golden" and ds.corpus_path is None
    assert ds.queries == {"rotate": "how do I rotate keys?", "2": "pricing of the pro plan"}
    assert ds.qrels == {"rotate": {"doc-7": 1, "doc-9": 1}, "2": {"pricing": 2, "faq": 1, "blog": 0}}
    assert load_golden(str(path), name="mine").name == "mine"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"relevant": ["a"]}', "field 'query'"),
        ('{"query": "q", "relevant": []}', "names no relevant document"),
        ('{"query": "q", "relevant": {"a": 0}}', "names no relevant document"),
        ('{"query": "q", "relevant": {"a": -1}}', "non-negative integer"),
        ('{"query": "q", "relevant": {"a": 1.5}}', "non-negative integer"),
        ('{"query": "q", "relevant": "a"}', "must be a list"),
        ('{"query": "q", "relevant": [null]}', "must list document ids"),
        ('{"query": "q", "relevant": ["a"], "id": true}', "field 'id'"),
        ('["q", ["a"]]', "expected a JSON object"),
        ('{"query": "q", "relevant": ["a"]', "invalid JSON"),
    ],
)
def test_golden_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text('{"query": "fine", "relevant": ["x"]}\n' + line + "\n")
    with pytest.raises(InputError, match=message) as info:
        load_golden(path)
    assert "g.jsonl:2" in str(info.value) and info.value.field == "golden"


def test_golden_duplicate_ids_empty_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a", "query": "x", "relevant": ["d"]}\n{"id": "a", "query": "y", "relevant": ["d"]}\n')
    with pytest.raises(InputError, match="duplicate query id 'a'"):
        load_golden(path)
    path.write_text("\n")
    with pytest.raises(InputError, match="holds no queries"):
        load_golden(path)
    with pytest.raises(InputError, match="missing") as info:
        load_golden(tmp_path / "absent.jsonl")
    assert info.value.field == "golden"


def test_dataset_requires_judgments_for_every_query() -> None:
    with pytest.raises(InputError, match="'q2' has no relevance judgments"):
        EvalDataset("x", None, {"q1": "a", "q2": "b"}, {"q1": {"d": 1}})
