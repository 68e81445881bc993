"""Values that cross pgseek's boundaries: frozen, typed, and free of database or model objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONValue = Any
"""A value that round-trips through JSON (what document metadata may hold)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One document as a loader produced it, before chunking.

    ``text`` is the parsed text; chunk offsets point into it. Markdown-style heading lines (``# Title``) in ``text``
    mark the sections that chunking splits at, whatever format the document came from.
    """

    external_id: str
    text: str
    title: str | None = None
    source: str | None = None
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough for the embedding model to read whole."""

    position: int
    text: str
    start: int
    """Offset of the chunk's first character in ``Document.text``."""
    end: int
    """Offset just past the chunk's last character: ``document.text[start:end] == text``."""
    token_count: int
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A source that could not be turned into documents, and why."""

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an embedding model; vectors from different identities are never mixed."""

    provider: str
    name: str
    dimensions: int
    version: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ``ingest`` call did."""

    documents_seen: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    documents_failed: int
    chunks_embedded: int
    failures: tuple[LoadFailure, ...]
    seconds: float
    model_seconds: float = 0.0
    """Of ``seconds``, the time spent inside the embedding model."""

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class LegRank:
    """Where a hit stood in one search leg (vector: similarity, keyword: BM25 score)."""

    rank: int
    score: float


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk and the document it belongs to."""

    document_id: str
    title: str | None
    source: str | None
    chunk: str
    position: int
    score: float
    metadata: Mapping[str, JSONValue]
    chunk_id: int
    heading_path: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    legs: Mapping[str, LegRank] = field(default_factory=dict)
    """Per search leg ("vector", "keyword") that found this chunk: its rank and score there."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds spent per stage of a request."""

    embed: float
    search: float
    total: float
    fuse: float = 0.0


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[Hit, ...]
    timings_ms: Timings
    mode: str = "vector"
    plan: str | None = None
    """The vector leg's plan: "iterative" (HNSW index, iterative scan) or "exact" (no index); None without one."""
    estimated_rows: int | None = None
    """The planner's estimate of the chunks that match tenant, collection and filter (what chose the plan)."""
    fewer_than_k: bool = False
    """True when fewer than k chunks matched: every match was returned."""
