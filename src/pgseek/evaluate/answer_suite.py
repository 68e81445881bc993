"""Answer suites: questions with the text a right answer contains, and questions the documents do not answer.

One JSON object per line; an optional first line names the suite and its corpus::

    {"name": "local-docs", "corpus": ["/usr/share/doc/nodejs/api/cli.md", "docs/"]}
    {"id": "inspect-port", "question": "Which port does --inspect use?", "answers": ["9229"], "source": "cli.md"}
    {"id": "django-pool", "question": "How do I pool connections in Django?", "answerable": false}

- ``question`` (required): asked as written.
- ``answers``: accepted answer texts, at least one; an answer is right when it contains one of them, case folded and
  whitespace collapsed (citation markers removed). A question without ``answers`` must say ``"answerable": false``:
  a right answer is then a refusal.
- ``source`` (optional): where the answer is, for people reading the results.
- ``id`` (optional): the line number otherwise.
- ``corpus`` (header, optional): files or folders to ingest before asking; relative paths are relative to the suite
  file. Without it the questions are asked of a collection that already holds the documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgseek.errors import InputError
from pgseek.evaluate.datasets import _id, _json_lines

__all__ = ["AnswerCase", "AnswerSuite", "is_answer_suite", "load_answer_suite"]

_SHAPE_KEYS = ("answers", "answerable", "corpus")


@dataclass(frozen=True, slots=True)
class AnswerCase:
    id: str
    question: str
    answers: tuple[str, ...]
    """Accepted texts; empty for a question the documents do not answer."""
    source: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class AnswerSuite:
    name: str
    corpus: tuple[Path, ...]
    """Files or folders to ingest first; empty when the collection already holds the documents."""
    cases: tuple[AnswerCase, ...]


def is_answer_suite(path: Path | str) -> bool:
    """Whether a JSON Lines file is an answer suite (its first record has ``answers``, ``answerable`` or
    ``corpus``) rather than a retrieval golden set or a claims file."""
    file = Path(path)
    if not file.is_file():
        return False
    for _, record in _json_lines(file, "suite"):
        return any(key in record for key in _SHAPE_KEYS)
    return False


def load_answer_suite(path: Path | str) -> AnswerSuite:
    """Read an answer suite; InputError (``field`` = "suite") names the file, line and field that are wrong."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file} is missing: give a JSON Lines answer suite", field="suite")
    name = file.stem
    corpus: tuple[Path, ...] = ()
    cases: list[AnswerCase] = []
    seen: set[str] = set()
    for lineno, record in _json_lines(file, "suite"):
        if "corpus" in record:
            if cases or corpus:
                raise InputError(f"{file}:{lineno}: the corpus line must come first, once", field="suite")
            name, corpus = _header(record, file, lineno)
            continue
        case = _case(record, file, lineno)
        if case.id in seen:
            raise InputError(f"{file}:{lineno}: duplicate id {case.id!r}", field="suite")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise InputError(f"{file} holds no questions", field="suite")
    return AnswerSuite(name, corpus, tuple(cases))


def _header(record: dict[str, Any], file: Path, lineno: int) -> tuple[str, tuple[Path, ...]]:
    where = f"{file}:{lineno}"
    raw = record["corpus"]
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        raise InputError(f"{where}: 'corpus' must be a non-empty list of paths", field="suite")
    paths = tuple(p if p.is_absolute() else file.parent / p for p in (Path(s) for s in raw))
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"{where}: corpus path {missing[0]} does not exist ({len(missing)} missing); install the documents "
            "or edit the suite's corpus line",
            field="suite",
        )
    name = record.get("name", file.stem)
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: 'name' must be a non-empty string", field="suite")
    return name, paths


def _case(record: dict[str, Any], file: Path, lineno: int) -> AnswerCase:
    where = f"{file}:{lineno}"
    raw_id = record.get("id")
    qid = str(lineno) if raw_id is None else _id(raw_id, file, lineno, "suite", key="id")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: field 'question' must be a non-empty string", field="suite")
    answers = record.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
        raise InputError(f"{where}: field 'answers' must be a list of non-empty strings", field="suite")
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise InputError(f"{where}: field 'answerable' must be true or false", field="suite")
    if answerable != bool(answers):
        raise InputError(
            f"{where}: give 'answers' (the accepted texts) for an answerable question, or "
            '"answerable": false and no answers for one the documents do not answer',
            field="suite",
        )
    source = record.get("source")
    if source is not None and not isinstance(source, str):
        raise InputError(f"{where}: field 'source' must be a string", field="suite")
    return AnswerCase(qid, question, tuple(answers), source)
