"""Values that cross pgseek's boundaries: frozen, typed, and free of database or model objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

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
    pages: tuple[int, ...] = ()
    """Offset in ``text`` where each page starts, for formats with pages (PDF); empty for the others."""


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
    page: int | None = None
    """1-based page the chunk starts on, for documents with pages (PDF); None for the others."""
    page_end: int | None = None
    """Page the chunk ends on (equal to ``page`` unless it runs over a page break)."""


def page_label(page: int | None, page_end: int | None) -> str:
    """How a citation names its pages: "p. 12", "pp. 12–13", or "" without a page."""
    if page is None:
        return ""
    if page_end is not None and page_end != page:
        return f"pp. {page}–{page_end}"
    return f"p. {page}"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A source that could not be turned into documents, and why."""

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file (or hidden folder) that a folder's walk left out on purpose, and why: ``hidden``, ``unsupported type``."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an embedding model; vectors from different identities are never mixed."""

    provider: str
    """The registry's name for the code that runs it (an entry point of the ``pgseek.embedders`` group)."""
    name: str
    dimensions: int
    version: str
    """What pins the weights: a package version, a revision, or "unpinned" for a hosted model that names none."""
    max_tokens: int | None = None
    """Tokens the model reads per input, in its own tokenizer, special tokens included (None: not recorded)."""
    precision: str = "float32"
    """How the vectors are stored: float32 (pgvector ``vector``) or float16 (``halfvec``)."""
    normalized: bool = True
    """Whether the model returns unit-length vectors (cosine and inner product then rank alike)."""

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        """What tells one vector space from another: vectors under different keys are never compared."""
        return (self.provider, self.name, self.version, self.dimensions, self.precision)


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ``ingest`` call did."""

    documents_seen: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    documents_failed: int
    chunks_embedded: int
    """Chunks written with a vector the model computed in this run."""
    failures: tuple[LoadFailure, ...]
    seconds: float
    model_seconds: float = 0.0
    """Of ``seconds``, the time spent inside the embedding model."""
    chunks_reused: int = 0
    """Chunks of changed documents written with their stored vector: the text the model reads did not change."""
    documents_pruned: int = 0
    """Documents deleted because their file is gone from a folder ingested with ``prune``."""
    skipped: tuple[SkippedFile, ...] = ()
    """Files in the folders given that were not loaded, each with its reason (never a failure)."""
    commit_lsn: str | None = None
    """The primary's WAL position after this run's writes; a search given it as ``min_lsn`` sees them (replicas)."""

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.skipped:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class ReplicaLag:
    """One read replica as the last health check saw it (docs/replicas.md)."""

    url: str
    healthy: bool
    lag_bytes: int | None
    lag_seconds: float | None
    problem: str | None


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
    page: int | None = None
    """1-based page of a PDF the chunk starts on; None for documents without pages."""
    page_end: int | None = None
    """Page the chunk ends on (``page`` unless it runs over a page break)."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds spent per stage of a request."""

    embed: float
    search: float
    total: float
    fuse: float = 0.0
    generate: float = 0.0
    """Answers only: building the context and generating the answer."""
    load: float = 0.0
    """Loading the embedding model, when this request was the first to need it in the process (0 after that); apart
    from ``total``, which is the request's own work."""


@dataclass(frozen=True, slots=True)
class QueryVector:
    """A query's embedding and the vector space it belongs to (``ModelInfo.key``): what a search computed, passed on
    so that an answer does not embed its question again (decision 0019)."""

    model: tuple[str, str, str, int, str]
    vector: NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class CacheUse:
    """What the caches did for one search (docs/caching.md): "hit", "miss", or "off" when not asked (turned off, not
    needed, or the cache's store unavailable)."""

    embedding: str = "off"
    """The query's vector: from the embedding cache (or with a cached result), embedded now, or none needed."""
    result: str = "off"

    def to_json(self) -> dict[str, JSONValue]:
        return {"embedding": self.embedding, "result": self.result}


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[Hit, ...]
    timings_ms: Timings
    mode: str = "vector"
    plan: str | None = None
    """The vector leg's plan: "iterative" (HNSW index, iterative scan) or "exact" (no index); None without one."""
    estimated_rows: int | None = None
    """What chose the plan, from the tenant's own rows only: its chunks in the collection, or with a filter its chunks
    passing it, counted up to one past ``exact_search_below``."""
    fewer_than_k: bool = False
    """True when fewer than k chunks matched: every match was returned."""
    distance: str = "cosine"
    """The collection's distance metric, which the vector leg's scores are derived from."""
    query_vector: QueryVector | None = field(default=None, compare=False, repr=False)
    """The query's embedding, when the search made one (vector and hybrid modes)."""
    cache: CacheUse = field(default_factory=CacheUse)

    def to_json(self, *, explain: bool = False) -> dict[str, JSONValue]:
        """Exactly what ``pgseek search --json`` prints (``explain``: each hit's legs, as ``--explain`` adds)."""
        hits: list[JSONValue] = []
        for h in self.hits:
            hit: dict[str, JSONValue] = {
                "document_id": h.document_id,
                "title": h.title,
                "source": h.source,
                "chunk": h.chunk,
                "position": h.position,
                "score": round(h.score, 6),
                "metadata": dict(h.metadata),
                "page": h.page,
                "page_end": h.page_end,
            }
            if explain:
                hit["legs"] = {name: {"rank": leg.rank, "score": round(leg.score, 6)} for name, leg in h.legs.items()}
            hits.append(hit)
        t = self.timings_ms
        timings = {"embed": t.embed, "search": t.search, "fuse": t.fuse, "total": t.total, "load": t.load}
        return {
            "hits": hits,
            "timings_ms": {name: round(ms, 3) for name, ms in timings.items()},
            "mode": self.mode,
            "plan": self.plan,
            "estimated_rows": self.estimated_rows,
            "fewer_than_k": self.fewer_than_k,
            "cache": self.cache.to_json(),
        }


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection as one tenant sees it: the deployment-wide settings, and the tenant's own counts."""

    name: str
    distance: str
    text_search_config: str
    model: str | None
    """The embedding model bound at the first ingest; None until then."""
    dimensions: int | None
    documents: int
    chunks: int
    created_at: datetime
    """When this tenant started using the collection (created it or first ingested into it)."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as stored: its text and metadata, and how many chunks it was split into."""

    external_id: str
    collection: str
    text: str
    title: str | None
    source: str | None
    metadata: Mapping[str, JSONValue]
    chunks: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A stored document in a listing: what identifies it, without its text."""

    external_id: str
    title: str | None
    source: str | None
    chunks: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentPage:
    """One page of a tenant's documents in a collection, in external-id order.

    ``next_after`` is the id to pass as ``after`` for the next page (None on the last one); ``total`` counts the
    tenant's documents that match the filters, over all pages."""

    collection: str
    documents: tuple[DocumentSummary, ...]
    next_after: str | None
    total: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key of the HTTP service, without its secret: every request made with it acts as ``tenant``."""

    id: str
    tenant: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just created. ``key`` is the secret the client sends; it is shown this once, only its digest is kept."""

    id: str
    key: str
    tenant: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a process can serve requests; ``problem`` says why not when the database cannot be used."""

    database: bool
    pending_migrations: tuple[int, ...]
    model: bool
    problem: str | None = None

    @property
    def ready(self) -> bool:
        return self.database and not self.pending_migrations and self.model


# ---------------------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Citation:
    """Source ``[marker]`` of an answer's context: the chunk, its document, and where the chunk sits in it.

    A context numbers its sources 1, 2, ... in rank order; an answer's citations are the sources its text cites.
    ``chunk`` is ``document.text[start:end]`` (cut short only when one chunk alone exceeds the context budget).
    """

    marker: int
    document_id: str
    title: str | None
    source: str | None
    chunk: str
    score: float
    """The search score of the chunk (the mode's own: similarity, BM25 or the fused RRF score)."""
    chunk_id: int
    position: int
    start: int
    end: int
    tokens: int = 0
    """Word pieces this source takes in the context, its header line included."""
    page: int | None = None
    """1-based page of a PDF the chunk starts on; None for documents without pages."""
    page_end: int | None = None
    """Page the chunk ends on (``page`` unless it runs over a page break)."""

    def to_json(self) -> dict[str, JSONValue]:
        """The citation as ``pgseek ask --json`` prints it."""
        return {
            "marker": self.marker,
            "document_id": self.document_id,
            "title": self.title,
            "source": self.source,
            "chunk": self.chunk,
            "score": round(self.score, 6),
            "page": self.page,
            "page_end": self.page_end,
        }


@dataclass(frozen=True, slots=True)
class Context:
    """What a generator may use: numbered sources in rank order, within a token budget."""

    sources: tuple[Citation, ...]
    tokens: int
    """Word pieces of the rendered context (every source with its header)."""
    budget: int
    duplicates_dropped: int = 0
    """Hits left out as near-duplicates of a better-ranked hit."""
    over_budget: int = 0
    """Hits left out because they did not fit in what was left of the budget."""
    query_vector: QueryVector | None = field(default=None, compare=False, repr=False)
    """The question's embedding from the search, for a generator that compares text with it."""

    def source(self, marker: int) -> Citation | None:
        return self.sources[marker - 1] if 1 <= marker <= len(self.sources) else None


RefusalReason = Literal["no_hits", "low_score", "missing_terms", "not_in_context"]


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to a question, written only from the retrieved context, with the sources it cites.

    ``refused`` answers say that the documents do not answer the question and cite nothing; ``refusal_reason`` says
    why: nothing was retrieved, the best retrieved chunk scored under the refusal threshold, the context lacks the
    question's rare key terms, or the generator found no answer in the context. ``dropped_markers`` are the [n]
    markers the generator wrote that point at no source it was given: they are removed from ``text``.
    """

    event: ClassVar[str] = "answer"

    question: str
    text: str
    citations: tuple[Citation, ...]
    refused: bool
    timings_ms: Timings
    model: str
    dropped_markers: tuple[int, ...] = ()
    refusal_reason: RefusalReason | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """Exactly what ``pgseek ask --json`` prints."""
        t = self.timings_ms
        timings = {
            "embed": t.embed,
            "search": t.search + t.fuse,
            "generate": t.generate,
            "total": t.total,
            "load": t.load,
        }
        return {
            "answer": self.text,
            "citations": [c.to_json() for c in self.citations],
            "refused": self.refused,
            "timings_ms": {name: round(ms, 3) for name, ms in timings.items()},
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A piece of an answer's text as it is generated; the pieces concatenated are the generator's raw text.

    The ``Answer`` that ends a stream is authoritative: its text has unknown markers removed (and is the refusal
    sentence when the generator found no answer, which is never streamed as deltas).
    """

    event: ClassVar[str] = "delta"

    text: str

    def to_json(self) -> dict[str, JSONValue]:
        return {"text": self.text}


AnswerEvent = AnswerDelta | Answer
"""What ``ask_stream`` yields: deltas, then one final ``Answer``."""
