"""Evaluation data: BEIR-format datasets and users' own golden sets, both read into one ``EvalDataset``.

BEIR layout (one folder per dataset)::

    <dir>/corpus.jsonl        {"_id": "...", "title": "...", "text": "..."} per line
    <dir>/queries.jsonl       {"_id": "...", "text": "..."} per line
    <dir>/qrels/<split>.tsv   header "query-id<TAB>corpus-id<TAB>score", then one judgment per line

Golden set (a single JSON Lines file; the documents are already ingested in a collection)::

    {"id": "q1", "query": "how do I rotate keys?", "relevant": ["doc-7", "doc-9"]}
    {"query": "pricing of the pro plan", "relevant": {"pricing-page": 2, "faq": 1}}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgseek.errors import InputError

__all__ = ["EvalDataset", "load_beir", "load_golden"]


@dataclass(frozen=True, slots=True)
class EvalDataset:
    """Queries with graded relevance judgments, and optionally the corpus they are judged against.

    ``qrels`` maps a query id to ``{document external id: grade}``; grade 0 means judged not relevant, higher grades
    more relevant. Every query in ``queries`` has at least one relevant (grade > 0) document in ``qrels``.
    ``corpus_path`` is a JSON Lines corpus to ingest before evaluating, or None when the documents are already in a
    collection (golden sets).
    """

    name: str
    corpus_path: Path | None
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def __post_init__(self) -> None:
        missing = [qid for qid in self.queries if qid not in self.qrels]
        if missing:
            raise InputError(f"query {missing[0]!r} has no relevance judgments", field="qrels")


# ------------------------------------------------------------------------------------------------------------ BEIR


def load_beir(directory: Path | str, split: str = "test") -> EvalDataset:
    """Read a BEIR dataset folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

    Keeps the queries that have at least one relevant (grade > 0) judgment in the split: a query judged only
    non-relevant scores 0 whatever the system does, so it would only dilute the averages. Grades are kept as given.
    Raises InputError (``field`` = "corpus", "queries", "qrels" or "split") for a missing file, a malformed line
    (with its number) or a split that does not exist (listing those that do).
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder: give a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/)")
    corpus = root / "corpus.jsonl"
    if not corpus.is_file():
        raise InputError(f"{corpus} is missing: a BEIR dataset folder holds corpus.jsonl", field="corpus")
    qrels = _read_qrels(_qrels_path(root, split))
    queries = _read_queries(root / "queries.jsonl")
    relevant = {qid: judged for qid, judged in qrels.items() if any(g > 0 for g in judged.values())}
    if not relevant:
        raise InputError(f"qrels/{split}.tsv judges no document relevant (score > 0)", field="qrels")
    unknown = [qid for qid in relevant if qid not in queries]
    if unknown:
        raise InputError(
            f"{len(unknown)} judged quer{'y' if len(unknown) == 1 else 'ies'} not in queries.jsonl "
            f"(first: {unknown[0]!r}): the qrels and queries files do not belong together",
            field="queries",
        )
    return EvalDataset(
        name=root.resolve().name,
        corpus_path=corpus,
        queries={qid: queries[qid] for qid in relevant},
        qrels=relevant,
    )


def _qrels_path(root: Path, split: str) -> Path:
    folder = root / "qrels"
    path = folder / f"{split}.tsv"
    if path.is_file():
        return path
    available = sorted(p.stem for p in folder.glob("*.tsv")) if folder.is_dir() else []
    if not available:
        raise InputError(f"{folder} holds no <split>.tsv files: a BEIR dataset has qrels/test.tsv", field="qrels")
    raise InputError(f"no qrels for split {split!r} in {folder}; available: {', '.join(available)}", field="split")


def _read_queries(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(f"{path} is missing: a BEIR dataset folder holds queries.jsonl", field="queries")
    queries: dict[str, str] = {}
    for lineno, record in _json_lines(path, "queries"):
        qid = _id(record.get("_id", record.get("id")), path, lineno, "queries")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{lineno}: field 'text' must be a non-empty string", field="queries")
        if qid in queries:
            raise InputError(f"{path}:{lineno}: duplicate query id {qid!r}", field="queries")
        queries[qid] = text
    return queries


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _text_lines(path, "qrels"):
        fields = line.split("\t")
        if len(fields) != 3:
            fields = line.split()
        if lineno == 1 and fields and fields[0].strip().lower() in ("query-id", "query_id", "qid"):
            continue  # the header
        if len(fields) != 3:
            raise InputError(
                f"{path}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score), got {len(fields)}",
                field="qrels",
            )
        qid, doc_id, raw_score = (f.strip() for f in fields)
        try:
            grade = int(raw_score)
        except ValueError:
            raise InputError(f"{path}:{lineno}: score {raw_score!r} is not an integer", field="qrels") from None
        if not qid or not doc_id:
            raise InputError(f"{path}:{lineno}: empty query-id or corpus-id", field="qrels")
        qrels.setdefault(qid, {})[doc_id] = grade
    return qrels


# ------------------------------------------------------------------------------------------------------- golden set


def load_golden(path: Path | str, *, name: str | None = None) -> EvalDataset:
    """Read a golden set: JSON Lines of ``{"query": str, "relevant": [ids] | {id: grade}, "id": optional}``.

    ``relevant`` holds external document ids (what ``Document.external_id`` / ``Hit.document_id`` are); a list gives
    each grade 1. A query without an ``id`` is named by its line number. The corpus is not part of a golden set:
    evaluate it against the collection its documents were ingested into. Raises InputError (``field`` = "golden").
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file} is missing: give a JSON Lines golden set", field="golden")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for lineno, record in _json_lines(file, "golden"):
        raw_id = record.get("id")
        qid = str(lineno) if raw_id is None else _id(raw_id, file, lineno, "golden", key="id")
        if qid in queries:
            raise InputError(f"{file}:{lineno}: duplicate query id {qid!r}", field="golden")
        text = record.get("query")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{file}:{lineno}: field 'query' must be a non-empty string", field="golden")
        judged = _golden_relevant(record.get("relevant"), file, lineno)
        queries[qid] = text
        qrels[qid] = judged
    if not queries:
        raise InputError(f"{file} holds no queries", field="golden")
    return EvalDataset(name=name or file.stem, corpus_path=None, queries=queries, qrels=qrels)


def _golden_relevant(value: Any, file: Path, lineno: int) -> dict[str, int]:
    where = f"{file}:{lineno}: field 'relevant'"
    judged: dict[str, int] = {}
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str | int) or isinstance(item, bool) or str(item) == "":
                raise InputError(f"{where} must list document ids (strings)", field="golden")
            judged[str(item)] = 1
    elif isinstance(value, Mapping):
        for doc_id, grade in value.items():
            if not isinstance(grade, int) or isinstance(grade, bool) or grade < 0:
                raise InputError(f"{where}: grade of {doc_id!r} must be a non-negative integer", field="golden")
            judged[str(doc_id)] = grade
    else:
        raise InputError(f"{where} must be a list of document ids or an object {{id: grade}}", field="golden")
    if not any(g > 0 for g in judged.values()):
        raise InputError(f"{where} names no relevant document (grade > 0)", field="golden")
    return judged


# --------------------------------------------------------------------------------------------------------- reading


def _text_lines(path: Path, field: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; InputError when the file cannot be read or decoded."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})", field=field) from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", field=field) from exc


def _json_lines(path: Path, field: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in _text_lines(path, field):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})", field=field) from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}", field=field)
        yield lineno, record


def _id(value: Any, path: Path, lineno: int, field: str, *, key: str = "_id") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise InputError(f"{path}:{lineno}: field {key!r} must be a non-empty string or integer", field=field)
    return str(value)
