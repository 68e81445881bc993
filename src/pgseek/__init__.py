"""pgseek: retrieval and RAG on PostgreSQL + pgvector."""

from pgseek.config import Settings
from pgseek.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DatabaseError,
    DocumentError,
    EmbeddingError,
    InputError,
    MigrationError,
    NotFoundError,
    PayloadTooLargeError,
    PgseekError,
    PgvectorMissingError,
    QueryError,
)
from pgseek.search.engine import SearchOptions
from pgseek.search.filters import Condition, SearchFilter
from pgseek.seek import AsyncSeek, Seek
from pgseek.types import (
    ApiKey,
    Chunk,
    CollectionInfo,
    Document,
    Hit,
    IngestReport,
    LegRank,
    LoadFailure,
    ModelInfo,
    NewApiKey,
    Readiness,
    SearchResult,
    StoredDocument,
    Timings,
)

__all__ = [
    "ApiKey",
    "AsyncSeek",
    "AuthenticationError",
    "Chunk",
    "CollectionInfo",
    "Condition",
    "ConfigurationError",
    "ConflictError",
    "DatabaseError",
    "Document",
    "DocumentError",
    "EmbeddingError",
    "Hit",
    "IngestReport",
    "InputError",
    "LegRank",
    "LoadFailure",
    "MigrationError",
    "ModelInfo",
    "NewApiKey",
    "NotFoundError",
    "PayloadTooLargeError",
    "PgseekError",
    "PgvectorMissingError",
    "QueryError",
    "Readiness",
    "SearchFilter",
    "SearchOptions",
    "SearchResult",
    "Seek",
    "Settings",
    "StoredDocument",
    "Timings",
]
__version__ = "0.1.0"
