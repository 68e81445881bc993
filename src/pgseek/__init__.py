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
from pgseek.seek import AsyncSeek, SearchOptions, Seek
from pgseek.types import Chunk, Document, Hit, IngestReport, LoadFailure, ModelInfo, SearchResult, Timings

__all__ = [
    "AsyncSeek",
    "Chunk",
    "ConfigurationError",
    "DatabaseError",
    "Document",
    "DocumentError",
    "EmbeddingError",
    "Hit",
    "IngestReport",
    "InputError",
    "LoadFailure",
    "MigrationError",
    "ModelInfo",
    "NotFoundError",
    "PgseekError",
    "PgvectorMissingError",
    "QueryError",
    "SearchOptions",
    "SearchResult",
    "Seek",
    "Settings",
    "Timings",
]
__version__ = "0.1.0"
