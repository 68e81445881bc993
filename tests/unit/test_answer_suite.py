"""Answer suites read from JSON Lines, and their verdicts: pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgseek.errors import InputError
from pgseek.evaluate import AnswerCase, is_answer_suite, load_answer_suite
from pgseek.evaluate.answers import judge
from pgseek.types import Answer, Citation, Timings


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_a_suite_with_its_corpus(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    path = _write(
        tmp_path / "suite.jsonl",
        [
            {"name": "mine", "corpus": ["docs", str(tmp_path / "docs")]},
            {"id": "a", "question": "Which port?", "answers": ["9229"], "source": "cli.md"},
            {"question": "Django?", "answerable": False},
        ],
    )
    assert is_answer_suite(path)
    suite = load_answer_suite(path)
    assert suite.name == "mine" and suite.corpus == (tmp_path / "docs", tmp_path / "docs")
    assert [(c.id, c.answerable) for c in suite.cases] == [("a", True), ("3", False)]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"question": "q", "answers": []}], '"answerable": false'),
        ([{"question": "q", "answers": ["x"], "answerable": False}], '"answerable": false'),
        ([{"question": "", "answers": ["x"]}], "field 'question'"),
        ([{"question": "q", "answers": "x"}], "field 'answers'"),
        ([{"id": "a", "question": "q", "answers": ["x"]}, {"id": "a", "question": "r", "answers": ["y"]}], "duplicate"),
        ([{"corpus": ["nowhere/at/all"]}, {"question": "q", "answers": ["x"]}], "does not exist"),
        ([{"question": "q", "answers": ["x"]}, {"corpus": ["."]}], "must come first"),
        ([{"corpus": ["."]}], "holds no questions"),
    ],
)
def test_bad_suites_say_which_line_and_field(tmp_path: Path, records: list[dict[str, Any]], message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", records)
    with pytest.raises(InputError, match=message) as caught:
        load_answer_suite(path)
    assert caught.value.field == "suite"


def test_golden_sets_and_claims_are_not_suites(tmp_path: Path) -> None:
    assert not is_answer_suite(_write(tmp_path / "g.jsonl", [{"query": "q", "relevant": ["d"]}]))
    assert not is_answer_suite(_write(tmp_path / "c.jsonl", [{"question": "q", "cited_doc_ids": ["d"]}]))
    assert not is_answer_suite(tmp_path / "missing.jsonl")


def _answer(text: str, chunks: tuple[str, ...] = (), refused: bool = False) -> Answer:
    citations = tuple(Citation(i, f"d{i}", None, None, c, 0.0, i, 0, 0, len(c)) for i, c in enumerate(chunks, 1))
    return Answer("q", text, citations, refused, Timings(0, 0, 0), "m")


def test_verdicts() -> None:
    case = AnswerCase("a", "Which port?", ("127.0.0.1:9229",))
    assert judge(case, _answer("“Default is  `127.0.0.1:9229`.” [1]")) == "correct"
    assert judge(case, _answer("Activate inspector. [1]", ("Default is 127.0.0.1:9229.",))) == "partial"
    assert judge(case, _answer("Something else. [1]", ("Other text.",))) == "wrong"
    assert judge(case, _answer("The documents do not answer this question.", refused=True)) == "wrong"
    never = AnswerCase("b", "Django?", ())
    assert judge(never, _answer("", refused=True)) == "refused"
    assert judge(never, _answer("Pools. [1]")) == "answered"
