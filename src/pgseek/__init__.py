"""pgseek: retrieval and RAG on PostgreSQL + pgvector."""

from pgseek.config import Settings
from pgseek.errors import (
    ConfigurationError,
    DatabaseError,
    DocumentError,
    EmbeddingError,
    GenerationError,
    InputError,
    MigrationError,
    NotFoundError,
    PgseekError,
    PgvectorMissingError,
    QueryError,
)
from pgseek.providers.protocols import Generator
from pgseek.search.engine import SearchOptions
from pgseek.search.filters import Condition, SearchFilter
from pgseek.seek import AsyncSeek, Seek
from pgseek.types import (
    Answer,
    AnswerDelta,
    AnswerEvent,
    Chunk,
    Citation,
    Context,
    Document,
    Hit,
    IngestReport,
    LegRank,
    LoadFailure,
    ModelInfo,
    SearchResult,
    Timings,
)

__all__ = [
    "Answer",
    "AnswerDelta",
    "AnswerEvent",
    "AsyncSeek",
    "Chunk",
    "Citation",
    "Condition",
    "ConfigurationError",
    "Context",
    "DatabaseError",
    "Document",
    "DocumentError",
    "EmbeddingError",
    "GenerationError",
    "Generator",
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
