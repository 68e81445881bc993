"""pgseek: retrieval and RAG on PostgreSQL + pgvector."""

from pgseek.config import Settings
from pgseek.errors import (
    ConfigurationError,
    DatabaseError,
    DocumentError,
    EmbeddingError,
    InputError,
    MigrationError,
    NotFoundError,
    PgseekError,
    PgvectorMissingError,
    QueryError,
)
from pgseek.search.engine import SearchOptions
from pgseek.search.filters import Condition, SearchFilter
from pgseek.seek import AsyncSeek, Seek
from pgseek.types import Chunk, Document, Hit, IngestReport, LegRank, LoadFailure, ModelInfo, SearchResult, Timings

__all__ = [
    "AsyncSeek",
    "Chunk",
    "Condition",
    "ConfigurationError",
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
    "NotFoundError",
    "PgseekError",
    "PgvectorMissingError",
    "QueryError",
    "SearchFilter",
    "SearchOptions",
    "SearchResult",
    "Seek",
    "Settings",
    "Timings",
]
__version__ = "0.1.0"
