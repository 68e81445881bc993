"""One Settings object, read from the environment (prefix ``PGSEEK_``) or given explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("pgseek"))


class Settings(BaseSettings):
    """Everything pgseek can be told. Each field maps to ``PGSEEK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PGSEEK_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Embedded database data and model caches.")
    database_url: str | None = Field(default=None, description="Any PostgreSQL with pgvector; unset: embedded server.")
    collection: str = Field(default="default", min_length=1, max_length=200)
    tenant: str = Field(default="default", min_length=1, max_length=200)

    # The embedding model of collections created from now on; an existing collection keeps the one it was embedded
    # with (its row in embedding_models), whatever these say.
    embed_provider: str = Field(
        default="sentence-transformers",
        min_length=1,
        description="Embedder of new collections: sentence-transformers (alias local: on this machine), openai (any "
        "OpenAI-compatible /embeddings server) or a plugin's name (entry point group pgseek.embedders).",
    )
    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="The embedding model's name, for any provider.")
    embed_backend: Literal["auto", "torch", "onnx"] = "auto"
    embed_batch_size: int = Field(default=64, ge=1, le=4096)
    embed_base_url: str = Field(default="https://api.openai.com/v1", description="Embeddings server, up to /v1.")
    embed_api_key: SecretStr | None = Field(
        default=None, description="Bearer token of the embeddings server; unset: PGSEEK_OPENAI_API_KEY."
    )
    embed_dimensions: int | None = Field(
        default=None, ge=1, le=16000, description="Vector size to ask for (text-embedding-3 shortens); unset: native."
    )
    embed_max_tokens: int | None = Field(
        default=None, ge=8, description="Tokens the remote model reads per input; unset: known models' own, else 512."
    )
    embed_precision: Literal["auto", "float32", "float16"] = Field(
        default="auto",
        description="Storage of new collections' vectors: float32 (vector), float16 (halfvec: half the size), or auto "
        "(float16 above 2,000 dimensions, the widest float32 HNSW index).",
    )
    embed_version: str | None = Field(
        default=None, description="What pins a remote model's weights (a revision); unset: 'unpinned'."
    )
    embed_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect to the embeddings server.")
    embed_read_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for an embeddings answer.")
    embed_max_retries: int = Field(default=5, ge=0, le=20, description="Retries after the first try (429/5xx/timeout).")
    embed_backoff_base: float = Field(default=0.5, ge=0, description="First retry's wait (doubles each retry).")
    embed_backoff_max: float = Field(
        default=30.0, ge=0, description="Longest wait between tries, a server's Retry-After included."
    )
    embed_request_texts: int = Field(default=128, ge=1, le=2048, description="Most inputs in one embeddings request.")
    embed_request_tokens: int = Field(
        default=100_000, ge=1, description="Most estimated tokens in one embeddings request."
    )
    embed_concurrency: int = Field(default=4, ge=1, le=64, description="Most embeddings requests in flight at once.")
    chunk_tokens: int = Field(
        default=200,
        ge=16,
        le=8192,
        description=(
            "Chunk size in tokens of a new collection's first embedding version, capped by what the model reads "
            "(MiniLM: 254); an existing collection chunks as its versions say (change it: pgseek models add)."
        ),
    )
    chunk_overlap: int = Field(default=32, ge=0, le=100, description="Overlap in tokens, as chunk_tokens.")

    distance: Literal["cosine", "l2", "ip"] = Field(
        default="cosine", description="Distance of collections created from now on: cosine, l2 or ip (inner product)."
    )
    text_search_config: str = Field(
        default="english",
        pattern=r"^[a-z_]{1,63}$",
        description="Full-text configuration of collections created from now on ('simple' for other languages).",
    )
    index_kind: Literal["hnsw", "ivfflat"] = Field(
        default="hnsw", description="Vector index of collections created from now on: hnsw or ivfflat."
    )
    quantization: Literal["none", "halfvec", "binary"] = Field(
        default="none",
        description=(
            "What the HNSW index of collections created from now on is built over: none (the stored vectors), "
            "halfvec (embedding::halfvec) or binary (binary_quantize, candidates re-ranked at full precision)."
        ),
    )
    partitions: int = Field(
        default=0,
        ge=0,
        le=1024,
        description=(
            "Embeddings of collections created from now on partitioned by tenant: 0, one table; N, a DEFAULT partition "
            "hashed into N for all tenants but those given their own (pgseek partitions move). HNSW only."
        ),
    )
    ivfflat_min_rows: int = Field(
        default=10_000, ge=1, description="Rows an IVFFlat collection holds before its index is built (exact until)."
    )
    ivfflat_probes: int = Field(default=0, ge=0, description="IVFFlat lists probed per query (0: sqrt(lists)).")
    rerank_factor: int = Field(
        default=8, ge=1, le=100, description="Binary or halfvec candidates fetched per hit wanted, then re-ranked."
    )
    partial_indexes: Literal["off", "auto"] = Field(
        default="off",
        description="auto: after an ingest, build the partial HNSW index of a tenant that deserves one (or drop it).",
    )
    partial_index_share: float = Field(
        default=0.004,
        gt=0,
        lt=1,
        description="A tenant with this share of a collection (and above exact_search_below chunks) gets a partial "
        "HNSW index of its own.",
    )
    recall_watch_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of `pgseek serve`'s vector searches re-run exactly in the background for /metrics' recall "
        "(0: none).",
    )
    recall_watch_interval: float = Field(default=30.0, gt=0, description="Seconds between two rounds of re-runs.")
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    ef_search: int = Field(default=40, ge=1, le=1000)
    max_scan_tuples: int = Field(default=20000, ge=100, description="Bound on an iterative HNSW scan's walk.")
    exact_search_below: int = Field(
        default=5000, ge=0, description="Scan exactly when the planner expects at most this many matching chunks."
    )
    index_build_memory: str = Field(default="1GB", pattern=r"^\d+(kB|MB|GB)$")
    analyze_after_rows: int = Field(default=1000, ge=0)

    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=8, ge=1)
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds a caller waits for a pooled connection before 503 / exit 2."
    )
    connect_timeout: int = Field(default=3, ge=1, description="Seconds to open one connection to PostgreSQL.")
    pooler: Literal["none", "transaction"] = Field(
        default="none", description="transaction: behind PgBouncer-style transaction pooling (port 6432 implies it)."
    )
    read_urls: str | None = Field(
        default=None,
        description="Streaming replicas that serve searches and asks, comma-separated URLs; unset: the embedded "
        "replicas when `pgseek server replica start` runs them, else the primary alone (docs/replicas.md).",
    )
    read_wait_ms: int = Field(
        default=500, ge=0, le=60000, description="How long a read waits for a replica to replay a write it must see."
    )
    read_your_writes: bool = Field(
        default=True, description="A search waits for this process's own last ingest on the replica it reads."
    )
    max_replica_lag_s: float = Field(
        default=10.0, gt=0, description="Seconds behind the primary past which a replica leaves the rotation."
    )
    recent_queries_days: int = Field(
        default=7,
        ge=0,
        le=3650,
        description="Days a searched query's text is kept for comparing embedding versions (0: none is recorded).",
    )
    # Caches of query embeddings and search results (docs/caching.md): exact keys only, never stale.
    cache: bool = Field(default=True, description="Cache query embeddings and search results (false: neither).")
    cache_embeddings: bool = Field(default=True, description="Cache query embeddings (by model identity and text).")
    cache_results: bool = Field(
        default=True, description="Cache search results (by tenant, collection, request and write generation)."
    )
    cache_embeddings_ttl: float = Field(default=86400.0, gt=0, description="Seconds a query embedding is kept.")
    cache_results_ttl: float = Field(default=300.0, gt=0, description="Seconds a search result is kept.")
    cache_embeddings_memory_mb: int = Field(
        default=16, ge=1, description="In-process embedding cache size in MiB (without Redis); least recent go first."
    )
    cache_results_memory_mb: int = Field(
        default=64, ge=1, description="In-process result cache size in MiB (without Redis); least recent go first."
    )
    redis_url: str | None = Field(
        default=None, description="Redis for the caches, shared by processes (redis://host:6379/0); unset: in-process."
    )
    redis_timeout: float = Field(
        default=0.05, gt=0, le=10, description="Seconds a cache call to Redis may take; past it the search goes on."
    )
    redis_retry_after: float = Field(
        default=5.0, ge=0, description="Seconds without calling Redis after it failed (then one call tries it)."
    )
    backfill_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "Niceness of a `pgseek models backfill` process (what `models add` starts): searches on the same "
            "machine keep the CPU first. 0: none."
        ),
    )
    max_file_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1,
        description="Largest file ingested as one document (JSON Lines files stream, whatever their size).",
    )
    # The work queue and its workers (pgseek worker, docs/freshness.md).
    job_lease_s: float = Field(
        default=60.0, ge=1, description="Seconds a claimed job stays leased without a heartbeat (a dead worker's)."
    )
    job_max_attempts: int = Field(default=5, ge=1, le=100, description="Tries of a job before it is failed.")
    job_backoff_s: float = Field(default=2.0, ge=0, description="Wait before a failed job's first retry (doubles).")
    job_batch: int = Field(default=32, ge=1, le=1000, description="Jobs a worker claims (and embeds) at once.")
    worker_poll_s: float = Field(
        default=2.0, gt=0, description="Seconds between a worker's polls of the queue when no notification comes."
    )
    worker_heartbeat_s: float = Field(default=5.0, gt=0, description="Seconds between a worker's heartbeats.")
    queue_workers: int = Field(
        default=0, ge=0, le=64, description="Queue worker slots each HTTP service process runs (pgseek serve); 0: none."
    )
    # The HTTP service (pgseek serve).
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest request body the HTTP service reads (413 beyond)."
    )
    max_batch_documents: int = Field(
        default=1000, ge=1, description="Most documents (or files) one HTTP ingest request may carry (413 beyond)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    operator_key: SecretStr | None = Field(
        default=None,
        description="Bearer token of the operator endpoints (/metrics); unset, they are closed. Never a tenant key.",
    )

    # Tunables of the embedded server; its stock defaults made queries ~2x and HNSW builds ~3.4x slower.
    embedded_shared_buffers: str = Field(default="512MB", pattern=r"^\d+(kB|MB|GB)$")
    embedded_maintenance_work_mem: str = Field(default="1GB", pattern=r"^\d+(kB|MB|GB)$")

    # Answers (pgseek ask). The extractive generator runs offline; "openai" is any OpenAI-compatible server.
    generator: Literal["extractive", "openai"] = Field(
        default="extractive", description="extractive (offline, the default) or openai (any Chat Completions server)."
    )
    context_tokens: int = Field(
        default=2000,
        ge=64,
        le=200_000,
        description="Token budget of an answer's context (embedding-model word pieces).",
    )
    refusal_threshold: float = Field(
        default=0.25,
        ge=-1.0,
        le=1.0,
        description="Refuse to answer when the best retrieved chunk's cosine similarity to the question is below this.",
    )
    extractive_sentences: int = Field(default=3, ge=1, le=20, description="Most sentences in an extractive answer.")
    extractive_min_score: float = Field(
        default=0.35,
        ge=-1.0,
        le=1.0,
        description="Extractive: refuse when no sentence scores this much (0.7 cosine + 0.3 keyword overlap).",
    )
    openai_base_url: str = Field(default="https://api.openai.com/v1", description="Chat Completions server, up to /v1.")
    openai_api_key: SecretStr | None = Field(default=None, description="Bearer token; unset for servers without one.")
    openai_model: str = Field(default="gpt-4o-mini", min_length=1)
    openai_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    openai_max_tokens: int | None = Field(default=None, ge=1, description="Cap on the answer's length, in tokens.")
    openai_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect to the model server.")
    openai_read_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the next bytes.")
    openai_max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries after the first try (429/5xx/timeout)."
    )
    openai_backoff_base: float = Field(default=0.5, ge=0, description="First retry's wait (doubles each retry).")
    openai_backoff_max: float = Field(
        default=20.0, ge=0, description="Longest wait between tries, a server's Retry-After included."
    )

    @field_validator("embed_provider")
    @classmethod
    def _provider_name(cls, value: str) -> str:
        return "sentence-transformers" if value == "local" else value

    @field_validator("openai_base_url", "embed_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        return value.rstrip("/")

    @field_validator("operator_key")
    @classmethod
    def _check_operator_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if len(secret) < 24:
            raise ValueError(
                "must be at least 24 characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
            )
        if secret.startswith("pgseek_"):
            # The shape of tenant API keys: a tenant's key must never open the operator endpoints.
            raise ValueError("must not be a tenant API key (those start with pgseek_): make a separate secret")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if not value:  # PGSEEK_REDIS_URL= (empty): no Redis
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://127.0.0.1:6379/0)")
        return value

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check_quantization(self) -> Settings:
        if self.quantization != "none" and self.index_kind != "hnsw":
            raise ValueError(
                f"quantization {self.quantization} builds an HNSW index: use it with index_kind hnsw, or quantization "
                "none with ivfflat"
            )
        if self.partitions and self.index_kind != "hnsw":
            raise ValueError(
                f"partitions {self.partitions} gives each partition an HNSW index: use it with index_kind hnsw, or "
                "partitions 0 with ivfflat"
            )
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def read_url_list(self) -> list[str]:
        return [url.strip() for url in (self.read_urls or "").split(",") if url.strip()]
