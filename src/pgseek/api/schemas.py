"""The HTTP service's request and response bodies, named by role; each converts to or from the facade's types.

Request models forbid unknown fields, so that a misspelt option (or a ``tenant`` field, which only the API key
decides) is an error instead of being silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pgseek.errors import InputError
from pgseek.filters import MAX_FILTER_VALUES, Condition, SearchFilter
from pgseek.ops.capacity import CapacityReport
from pgseek.ops.findings import DoctorReport
from pgseek.ops.partitions import MoveReport, PartitionReport
from pgseek.search.engine import MAX_K
from pgseek.types import (
    Answer,
    ApiKey,
    CollectionInfo,
    DocumentPage,
    IngestReport,
    Readiness,
    SearchResult,
    StoredDocument,
)
from pgseek.versions.compare import Comparison
from pgseek.versions.manage import VersionInfo

Scalar = str | int | float | bool | None
# Names: 1 to 200 characters, not blank, no control characters (pgseek.names checks the same, for every caller).
LSN_PATTERN = r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"
"""A WAL position as PostgreSQL writes it (pg_lsn's text): an ingest's commit_lsn."""
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# PostgreSQL text holds anything but NUL.
NO_NUL_PATTERN = r"^[^\x00]+$"
Distance = Literal["cosine", "l2", "ip"]
Mode = Literal["vector", "keyword", "hybrid"]


def _iso_text(value: Any) -> Any:
    # Pydantic would also read a number as a Unix time; the API documents (and takes) ISO-8601 text only.
    if not isinstance(value, str | datetime):
        raise ValueError("expected an ISO-8601 date or datetime string, such as 2024-05-01T12:00:00+00:00")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code: unauthorized, not_found, validation_error ...")
    message: str = Field(description="What was wrong and what to do about it.")
    field: str | None = Field(default=None, description="The request field at fault, when there is one.")


class ErrorResponse(BaseModel):
    """Every error the service returns has this shape."""

    error: ErrorDetail


# --- collections --------------------------------------------------------------------------------------------------


class CollectionCreate(_Request):
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    distance: Distance | None = Field(default=None, description="cosine, l2 or ip; default: the server's setting.")
    text_search_config: str | None = Field(
        default=None,
        pattern=r"^[a-z_]{1,63}$",
        description="PostgreSQL text search configuration (english, simple ...); default: the server's setting.",
    )


class CollectionPublic(BaseModel):
    """A collection as the caller's tenant sees it: shared settings, the tenant's own counts."""

    name: str
    distance: str
    text_search_config: str
    model: str | None
    dimensions: int | None
    documents: int
    chunks: int
    created_at: datetime

    @classmethod
    def of(cls, info: CollectionInfo) -> CollectionPublic:
        return cls.model_validate(info, from_attributes=True)


class CollectionsPublic(BaseModel):
    collections: list[CollectionPublic]


class CollectionDeleted(BaseModel):
    name: str
    documents_deleted: int


# --- documents ----------------------------------------------------------------------------------------------------


class DocumentIn(_Request):
    """One document to ingest; ``id`` is the caller's own (external) id: the same id again updates the document."""

    id: str = Field(min_length=1, max_length=1000, pattern=NO_NUL_PATTERN)
    title: str | None = Field(default=None, max_length=10_000)
    text: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object; searchable by filters.")


class IngestRequest(_Request):
    documents: list[DocumentIn] = Field(min_length=1)


class IngestFailure(BaseModel):
    path: str = Field(description="The document id, file name or file:line that failed.")
    error: str


class IngestResponse(BaseModel):
    """What one ingest request did; the same fields as ``pgseek ingest --json``."""

    documents_seen: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    documents_failed: int
    chunks_embedded: int
    chunks_reused: int
    """Chunks of changed documents whose stored vector was kept: their embedded text did not change."""
    failures: list[IngestFailure]
    seconds: float
    commit_lsn: str | None = Field(
        default=None,
        description="The primary's WAL position after this ingest: pass it as a search's min_lsn to read this write "
        "on a replica (docs/replicas.md).",
    )

    @classmethod
    def of(cls, report: IngestReport) -> IngestResponse:
        return cls(
            documents_seen=report.documents_seen,
            documents_added=report.documents_added,
            documents_updated=report.documents_updated,
            documents_unchanged=report.documents_unchanged,
            documents_failed=report.documents_failed,
            chunks_embedded=report.chunks_embedded,
            chunks_reused=report.chunks_reused,
            failures=[IngestFailure(path=f.path, error=f.error) for f in report.failures],
            seconds=round(report.seconds, 3),
            commit_lsn=report.commit_lsn,
        )


class DocumentListed(BaseModel):
    """A document in a listing: no text or metadata (``GET .../documents/{id}`` has them)."""

    id: str
    title: str | None
    source: str | None
    chunks: int
    updated_at: datetime


class DocumentsPage(BaseModel):
    """A page of the tenant's documents, in id order; ``next_after`` is the ``after`` of the next page (null on the
    last); ``total`` counts the tenant's documents that match, over all pages."""

    collection: str
    documents: list[DocumentListed]
    next_after: str | None
    total: int

    @classmethod
    def of(cls, page: DocumentPage) -> DocumentsPage:
        return cls(
            collection=page.collection,
            documents=[
                DocumentListed(
                    id=d.external_id, title=d.title, source=d.source, chunks=d.chunks, updated_at=d.updated_at
                )
                for d in page.documents
            ],
            next_after=page.next_after,
            total=page.total,
        )


class DocumentPublic(BaseModel):
    id: str
    collection: str
    title: str | None
    source: str | None
    metadata: dict[str, Any]
    text: str
    chunks: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, doc: StoredDocument) -> DocumentPublic:
        return cls(
            id=doc.external_id,
            collection=doc.collection,
            title=doc.title,
            source=doc.source,
            metadata=dict(doc.metadata),
            text=doc.text,
            chunks=doc.chunks,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
        )


# --- search -------------------------------------------------------------------------------------------------------


class MetadataCondition(_Request):
    """A test on a metadata key (``author.name`` reaches into nested objects)."""

    key: str = Field(min_length=1, max_length=100)
    op: Literal["eq", "ne", "in", "gt", "gte", "lt", "lte"]
    # The list's bound is checked by Condition (422 naming filters.metadata.N): a max_length here would make pydantic
    # report the union's other member (value.str) as the field at fault.
    value: Scalar | list[Scalar] = Field(
        description=f"A list for in (at most {MAX_FILTER_VALUES} values); a number or ISO-8601 date for gt/gte/lt/lte."
    )


class SearchFilters(_Request):
    """What a search may return beyond the caller's tenant and the collection; every part is ANDed."""

    metadata: list[MetadataCondition] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    contains: dict[str, Any] | None = Field(default=None, description="JSON object the metadata must contain.")
    document_ids: list[str] = Field(
        default_factory=list, max_length=MAX_FILTER_VALUES, description="External ids; any of them matches."
    )
    created_after: IsoDatetime | None = None
    created_before: IsoDatetime | None = None
    updated_after: IsoDatetime | None = None
    updated_before: IsoDatetime | None = None

    def to_filter(self) -> SearchFilter:
        """The library's filter; its InputError names the request's field (``filters.metadata.2``)."""
        conditions = []
        for i, c in enumerate(self.metadata):
            try:
                conditions.append(Condition(c.key, c.op, c.value))
            except InputError as exc:
                raise InputError(str(exc), field=f"filters.metadata.{i}") from exc
        try:
            return SearchFilter(
                metadata=tuple(conditions),
                contains=self.contains,
                document_ids=tuple(self.document_ids),
                created_after=self.created_after,
                created_before=self.created_before,
                updated_after=self.updated_after,
                updated_before=self.updated_before,
            )
        except InputError as exc:
            field = "filters" if exc.field in (None, "filter") else f"filters.{exc.field}"
            raise InputError(str(exc), field=field) from exc


class SearchRequest(_Request):
    query: str = Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
    k: int = Field(default=10, ge=1, le=MAX_K, strict=True)
    mode: Mode = "vector"
    filters: SearchFilters | None = None
    collection: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    min_score: float | None = Field(
        default=None, strict=True, allow_inf_nan=False, description="Drop hits scoring below this (the mode's score)."
    )
    min_lsn: str | None = Field(
        default=None,
        pattern=LSN_PATTERN,
        description="An ingest's commit_lsn: the search then sees that ingest's documents (docs/replicas.md).",
    )


class LegPublic(BaseModel):
    rank: int
    score: float


class Hit(BaseModel):
    """A chunk that matched, and its document; the same fields as a hit of ``pgseek search --explain --json``."""

    document_id: str
    title: str | None
    source: str | None
    chunk: str
    position: int
    score: float
    metadata: dict[str, Any]
    page: int | None = Field(description="1-based page of a PDF the chunk starts on; null for documents without pages.")
    page_end: int | None = Field(description="Page the chunk ends on (page unless it runs over a page break).")
    legs: dict[str, LegPublic] = Field(description="Rank and score in each search leg that found the chunk.")


class SearchTimings(BaseModel):
    embed: float
    search: float
    fuse: float
    total: float
    load: float = Field(default=0.0, description="Loading the embedding model (first request only); not in total.")


class CacheUsePublic(BaseModel):
    """What the caches did for this search: hit, miss, or off (turned off, not needed, or Redis unavailable)."""

    embedding: Literal["hit", "miss", "off"]
    result: Literal["hit", "miss", "off"]


class SearchResponse(BaseModel):
    hits: list[Hit]
    timings_ms: SearchTimings
    mode: str
    plan: str | None = Field(description="How the vector leg ran: iterative (HNSW) or exact; null without one.")
    estimated_rows: int | None
    fewer_than_k: bool
    cache: CacheUsePublic

    @classmethod
    def of(cls, result: SearchResult) -> SearchResponse:
        return cls.model_validate(result.to_json(explain=True))


# --- answers ------------------------------------------------------------------------------------------------------


class AskRequest(_Request):
    question: str = Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
    k: int = Field(default=8, ge=1, le=MAX_K, strict=True, description="Chunks retrieved for the context.")
    mode: Mode = "hybrid"
    filters: SearchFilters | None = None
    collection: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    min_lsn: str | None = Field(
        default=None,
        pattern=LSN_PATTERN,
        description="An ingest's commit_lsn: the answer's search then sees that ingest's documents (docs/replicas.md).",
    )


class CitationPublic(BaseModel):
    marker: int = Field(description="The [n] in the answer's text.")
    document_id: str
    title: str | None
    source: str | None
    chunk: str
    score: float
    page: int | None = Field(description="1-based page of a PDF the chunk starts on; null for documents without pages.")
    page_end: int | None = Field(description="Page the chunk ends on (page unless it runs over a page break).")


class AnswerTimings(BaseModel):
    embed: float
    search: float
    generate: float
    total: float
    load: float = Field(default=0.0, description="Loading the embedding model (first request only); not in total.")


class AnswerPublic(BaseModel):
    """An answer written only from the retrieved chunks, citing them as [n]; the shape of ``pgseek ask --json``."""

    answer: str
    citations: list[CitationPublic]
    refused: bool = Field(description="True when the documents do not answer the question (and nothing is cited).")
    timings_ms: AnswerTimings
    model: str

    @classmethod
    def of(cls, answer: Answer) -> AnswerPublic:
        return cls.model_validate(answer.to_json())


class AnswerDeltaPublic(BaseModel):
    """A piece of the answer's text, as the generator writes it (server-sent event ``delta``)."""

    text: str


# --- keys and health ----------------------------------------------------------------------------------------------


class WhoAmI(BaseModel):
    """The API key a request was made with (never its secret) and the tenant it acts as."""

    key_id: str
    tenant: str
    name: str | None

    @classmethod
    def of(cls, key: ApiKey) -> WhoAmI:
        return cls(key_id=key.id, tenant=key.tenant, name=key.name)


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessPublic(BaseModel):
    ready: bool
    database: bool
    pending_migrations: list[int]
    model: bool
    problem: str | None

    @classmethod
    def of(cls, r: Readiness) -> ReadinessPublic:
        return cls(
            ready=r.ready,
            database=r.database,
            pending_migrations=list(r.pending_migrations),
            model=r.model,
            problem=r.problem,
        )


class FindingPublic(BaseModel):
    check: str
    severity: Literal["ok", "warn", "problem"]
    subject: str
    message: str
    advice: str = Field(description="What to do; empty when nothing is.")
    figures: dict[str, Scalar]


class LadderStepPublic(BaseModel):
    ef_search: int
    recall_at_10: float


class RecallBucketPublic(BaseModel):
    collection: str
    bucket: Literal["large", "mid", "small", "exact"]
    tenants: int
    tenants_sampled: int
    queries: int
    ef_search: int = Field(description="The ef_search searches run with now (PGSEEK_EF_SEARCH).")
    recall_at_10: float = Field(description="Recall@10 against exact search at that ef_search.")
    target: float
    ef_to_target: int | None = Field(description="The smallest ef_search of the ladder that reaches the target.")
    ladder: list[LadderStepPublic]


class DoctorPublic(BaseModel):
    """``pgseek doctor --json``: the worst severity, every finding, recall per tenant size bucket."""

    status: Literal["ok", "warn", "problem"]
    findings: list[FindingPublic]
    recall: list[RecallBucketPublic]

    @classmethod
    def of(cls, report: DoctorReport) -> DoctorPublic:
        return cls.model_validate(report.to_json())


class CapacityMeasuredPublic(BaseModel):
    collections: int
    vectors: int
    dimensions: int
    index_bytes: int
    shared_buffers_bytes: int
    memory_bytes: int
    memory_source: str = Field(description="RAM (embedded server) or effective_cache_size (a server elsewhere).")
    queries: int
    p50_ms: float
    p99_ms: float
    throughput_qps: float
    parallel: int
    read_replicas: int = Field(description="The read replicas this deployment reads from; 0 without.")
    replicas_in_rotation: int = Field(description="Those the router's health check has in the rotation now.")
    replicas_share_machine: bool = Field(description="The replicas run on the primary's machine: they share its cores.")
    partitioned_collections: int = Field(description="Collections whose embeddings tables are partitioned by tenant.")
    largest_graph_bytes: int = Field(
        description="The largest single vector index a search walks: an unpartitioned table's whole index, a "
        "partitioned one's largest leaf's."
    )
    largest_tenant_vectors: int = Field(description="The most vectors one tenant has in one embeddings table.")
    tenant_graph_bytes: int = Field(
        description="The largest graph a search would walk with partitioning by tenant (the largest tenant in a "
        "partition of its own)."
    )


class CapacityScenarioPublic(BaseModel):
    factor: int = Field(description="1 (now), 10 or 100 times the vectors.")
    vectors: int
    index_bytes: int
    halfvec_index_bytes: int
    binary_index_bytes: int
    memory: Literal["shared_buffers", "memory", "exceeds memory"]
    p99_ms: float | None = Field(description="Projected p99; null when the index would be read from disk.")
    p99_within_target: bool
    range: Literal["pgvector", "pgvector with care", "scale out or a dedicated vector database"]
    verdict: str
    reasons: list[str]
    largest_graph_bytes: int = Field(description="The largest graph a search walks as deployed, times the factor.")
    tenant_graph_bytes: int = Field(description="The largest graph with partitioning by tenant, times the factor.")
    next_step: Literal[
        "none",
        "read replicas",
        "partition by tenant",
        "distributed PostgreSQL (shard by tenant)",
        "dedicated vector database",
    ] = Field(description="The step the figures call for (docs/capacity.md, Replicas and partitioning).")


class CapacityPublic(BaseModel):
    """``pgseek capacity --json``: the measured deployment and where it stands now, at 10x and at 100x."""

    measured: CapacityMeasuredPublic
    p99_target_ms: float
    scenarios: list[CapacityScenarioPublic]

    @classmethod
    def of(cls, report: CapacityReport) -> CapacityPublic:
        return cls.model_validate(report.to_json())


# --- partitions (operator key; decision 0031) ---------------------------------------------------------------------


class PartitionPublic(BaseModel):
    name: str
    tenant: str | None = Field(description="The tenant of its own partition; null for a hash bucket of the others.")
    bound: str
    rows: int = Field(description="Estimated rows (the planner's statistics).")
    table_bytes: int
    index_bytes: int


class PartitionsPublic(BaseModel):
    """``pgseek partitions list --json``: a partitioned collection's partitions."""

    collection: str
    table: str
    buckets: int
    partitions: list[PartitionPublic]

    @classmethod
    def of(cls, report: PartitionReport) -> PartitionsPublic:
        return cls.model_validate(report.to_json())


class PartitionMove(_Request):
    tenant: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN, description="The tenant to move.")


class PartitionMoved(BaseModel):
    """``pgseek partitions move --json``."""

    collection: str
    tenant: str
    tables: list[str]
    rows_moved: int
    seconds: float

    @classmethod
    def of(cls, report: MoveReport) -> PartitionMoved:
        return cls.model_validate(report.to_json())


# --- embedding versions (operator key; decision 0022) ------------------------------------------------------------


class VersionCreate(_Request):
    """A candidate version: what is left out stays as the active version has it (the server's embedding settings for
    a ``provider`` or ``model`` given without the other)."""

    provider: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    model: str | None = Field(default=None, min_length=1, max_length=500, pattern=NAME_PATTERN)
    precision: Literal["auto", "float32", "float16"] | None = Field(
        default=None, description="Storage of the vectors: float32 (vector) or float16 (halfvec); auto by width."
    )
    chunk_tokens: int | None = Field(default=None, ge=16, le=8192, strict=True)
    chunk_overlap: int | None = Field(default=None, ge=0, le=4095, strict=True)


class BackfillPublic(BaseModel):
    """A backfill this server process runs (or ran since it started): its progress, rate and time left."""

    stage: str = Field(description="embedding, indexing, done or failed.")
    documents_done: int
    documents_total: int
    chunks_written: int = Field(description="Chunks written by this run.")
    seconds: float
    rate: float = Field(description="Chunks written per second by this run.")
    eta_seconds: float | None = Field(description="Time left at this run's pace; null until it can be told.")
    error: str | None = Field(description="Why the run stopped, when it failed.")


class VersionPublic(BaseModel):
    """An embedding version of a collection: its model, chunking and state, and how far its backfill is (over every
    tenant's documents: the operator's view)."""

    id: int
    collection: str
    state: str = Field(description="candidate, active, previous or retired.")
    provider: str
    model: str
    model_version: str
    dimensions: int
    precision: str
    chunk_tokens: int
    chunk_overlap: int
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    backfilled_at: datetime | None
    documents_total: int
    documents_done: int
    chunks: int
    backfill_running: bool = Field(description="Some process holds the version's backfill lock now.")
    backfill_stopped: bool = Field(description="A candidate whose backfill neither finished nor runs: resume it.")
    index_ready: bool
    comparison: dict[str, Any] | None = Field(description="The last comparison with the active version.")
    backfill: BackfillPublic | None = Field(
        default=None, description="Progress of a backfill this server runs; null when it runs none for the version."
    )

    @classmethod
    def of(cls, info: VersionInfo, backfill: BackfillPublic | None = None) -> VersionPublic:
        fields = {name: getattr(info, name) for name in cls.model_fields if name != "backfill"}
        return cls(**fields, backfill=backfill)


class VersionsPublic(BaseModel):
    versions: list[VersionPublic]


class CompareRequest(_Request):
    dataset: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        pattern=NO_NUL_PATTERN,
        description="A golden-set .jsonl file or a BEIR folder on the server, whose documents are in the collection.",
    )
    mode: Mode = "vector"
    split: str = Field(default="test", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    sample: int = Field(default=50, ge=0, le=1000, strict=True, description="Recent searches replayed on both.")
    tolerance: float | None = Field(default=None, ge=0, le=1, description="nDCG@10 the candidate may lose (0.01).")
    tenant: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        description="Whose documents the dataset's ids name (default: the server's PGSEEK_TENANT).",
    )


class ComparedSide(BaseModel):
    version: int
    ndcg_at_10: float | None
    recall_at_100: float | None
    p50_ms: float
    p99_ms: float


class ComparisonPublic(BaseModel):
    """Both versions on the dataset and on recent searches, and the verdict (stored on the candidate)."""

    collection: str
    mode: str
    active: ComparedSide
    candidate: ComparedSide
    dataset: str | None
    queries: int
    recent_queries: int
    top10_overlap: float | None
    verdict: str
    better: bool | None = Field(description="Within the tolerance or better: true; worse: false; no dataset: null.")
    tolerance: float

    @classmethod
    def of(cls, c: Comparison, mode: str) -> ComparisonPublic:
        def side(s: Any) -> ComparedSide:
            return ComparedSide.model_validate(s, from_attributes=True)

        return cls(
            collection=c.collection,
            mode=mode,
            active=side(c.active),
            candidate=side(c.candidate),
            dataset=c.dataset,
            queries=c.queries,
            recent_queries=c.recent_queries,
            top10_overlap=c.top10_overlap,
            verdict=c.verdict,
            better=c.better,
            tolerance=c.tolerance,
        )


class ActivateRequest(_Request):
    force: bool = Field(default=False, description="Activate without a comparison, or one that found it worse.")
    tolerance: float | None = Field(default=None, ge=0, le=1, description="nDCG@10 the candidate may lose (0.01).")
