"""RAG evaluation data: questions (or claims) with the documents an answer should cite and the evidence sentences
it should contain.

One JSON object per line (the layout of SciFact's claims, which ``rag_dev_claims.jsonl`` follows)::

    {"id": "3", "claim": "...", "cited_doc_ids": ["14717500"],
     "evidence": {"14717500": [{"label": "SUPPORT", "sentences": [2, 5]}, {"sentences": [7]}]},
     "label": "SUPPORT"}

- ``claim`` (or ``question``): the text asked.
- ``cited_doc_ids``: the gold documents (external ids); a list, at least one.
- ``evidence`` (optional): per gold document, evidence sets; each set's ``sentences`` are indices into that document's
  sentence list in a sentences file, or the sentences themselves as strings. A bare list of strings or indices is one
  set. An empty object (or no key) means the claim has no evidence sentences (e.g. SciFact's NOINFO claims).
- ``label`` (optional): kept for reporting (refusal rate per label).

Sentence indices need a sentences file: JSON Lines ``{"_id": "...", "sentences": ["...", ...]}``, by default
``corpus_sentences.jsonl`` next to the claims file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgseek.errors import InputError
from pgseek.evaluate.datasets import _id, _json_lines

__all__ = ["Claim", "ClaimSet", "load_rag_claims"]

SENTENCES_FILE = "corpus_sentences.jsonl"


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    text: str
    gold_documents: frozenset[str]
    evidence: Mapping[str, tuple[str, ...]]
    """Per gold document, its evidence sentences (text); empty when the claim has none."""
    label: str | None = None

    @property
    def evidence_sentences(self) -> tuple[str, ...]:
        return tuple(s for sentences in self.evidence.values() for s in sentences)


@dataclass(frozen=True, slots=True)
class ClaimSet:
    name: str
    claims: tuple[Claim, ...]


@dataclass(frozen=True, slots=True)
class _RawClaim:
    id: str
    text: str
    gold: frozenset[str]
    evidence: dict[str, list[int | str]]
    label: str | None
    where: str


def load_rag_claims(path: Path | str, *, sentences: Path | str | None = None, name: str | None = None) -> ClaimSet:
    """Read a claims file; evidence given as sentence indices is resolved with ``sentences`` (default: the
    ``corpus_sentences.jsonl`` beside it). Raises InputError (``field`` = "claims" or "sentences")."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file} is missing: give a JSON Lines file of RAG claims", field="claims")
    raw = list(_read_claims(file))
    if not raw:
        raise InputError(f"{file} holds no claims", field="claims")
    needed = {doc for r in raw for doc, items in r.evidence.items() if any(isinstance(i, int) for i in items)}
    table: dict[str, list[str]] = {}
    if needed:
        sentences_path = Path(sentences) if sentences is not None else file.with_name(SENTENCES_FILE)
        table = _read_sentences(sentences_path, needed)
    claims = tuple(Claim(r.id, r.text, r.gold, _resolve(r, table), r.label) for r in raw)
    return ClaimSet(name or file.parent.name or file.stem, claims)


def _read_claims(file: Path) -> Iterator[_RawClaim]:
    seen: set[str] = set()
    for lineno, record in _json_lines(file, "claims"):
        where = f"{file}:{lineno}"
        raw_id = record.get("id", record.get("_id"))
        cid = str(lineno) if raw_id is None else _id(raw_id, file, lineno, "claims", key="id")
        if cid in seen:
            raise InputError(f"{where}: duplicate claim id {cid!r}", field="claims")
        seen.add(cid)
        text = record.get("claim", record.get("question"))
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: field 'claim' (or 'question') must be a non-empty string", field="claims")
        gold = record.get("cited_doc_ids")
        if not isinstance(gold, list) or not gold or not all(isinstance(d, str | int) for d in gold):
            raise InputError(f"{where}: field 'cited_doc_ids' must be a non-empty list of document ids", field="claims")
        label = record.get("label")
        yield _RawClaim(
            cid,
            text,
            frozenset(str(d) for d in gold),
            _evidence(record.get("evidence"), where),
            label if isinstance(label, str) else None,
            where,
        )


def _evidence(value: Any, where: str) -> dict[str, list[int | str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: field 'evidence' must be an object {{document id: evidence sets}}", field="claims")
    evidence: dict[str, list[int | str]] = {}
    for doc, sets in value.items():
        items: list[int | str] = []
        for entry in sets if isinstance(sets, list) else [sets]:
            chosen = entry.get("sentences") if isinstance(entry, Mapping) else entry
            for item in chosen if isinstance(chosen, list) else [chosen]:
                if isinstance(item, bool) or not isinstance(item, int | str):
                    raise InputError(
                        f"{where}: evidence of {doc!r} must be sentence indices or sentences, got {item!r}",
                        field="claims",
                    )
                items.append(item)
        evidence[str(doc)] = items
    return evidence


def _read_sentences(path: Path, needed: set[str]) -> dict[str, list[str]]:
    if not path.is_file():
        raise InputError(
            f"{path} is missing: evidence given as sentence indices needs the documents' sentences "
            '(JSON Lines {"_id", "sentences": [...]})',
            field="sentences",
        )
    table: dict[str, list[str]] = {}
    for lineno, record in _json_lines(path, "sentences"):
        doc = _id(record.get("_id", record.get("id")), path, lineno, "sentences")
        if doc not in needed:
            continue
        sentences = record.get("sentences")
        if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
            raise InputError(f"{path}:{lineno}: field 'sentences' must be a list of strings", field="sentences")
        table[doc] = sentences
    return table


def _resolve(raw: _RawClaim, table: Mapping[str, list[str]]) -> dict[str, tuple[str, ...]]:
    resolved: dict[str, tuple[str, ...]] = {}
    for doc, items in raw.evidence.items():
        out: list[str] = []
        for item in items:
            if isinstance(item, str):
                out.append(item)
                continue
            sentences = table.get(doc)
            if sentences is None:
                raise InputError(
                    f"{raw.where}: no sentences for document {doc!r} in the sentences file", field="claims"
                )
            if not 0 <= item < len(sentences):
                raise InputError(
                    f"{raw.where}: document {doc!r} has {len(sentences)} sentences, no sentence {item}", field="claims"
                )
            out.append(sentences[item])
        if out:
            resolved[doc] = tuple(dict.fromkeys(out))
    return resolved
