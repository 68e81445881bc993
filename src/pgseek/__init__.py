"""pgseek: retrieval and RAG on PostgreSQL + pgvector.

The facade, the settings and the search options load on first use (``__getattr__`` below): they pull in pydantic,
psycopg, numpy and the loaders, and ``pgseek --help`` or a plain ``import pgseek`` needs none of them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pgseek.errors import (
    AuthenticationError,
    BrokerError,
    ConfigurationError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    DataRejectedError,
    DocumentError,
    EmbeddingError,
    GenerationError,
    IngestInterruptedError,
    InputError,
    MigrationError,
    NotFoundError,
    PayloadTooLargeError,
    PgseekError,
    PgvectorMissingError,
    QueryError,
)
from pgseek.filters import Condition, SearchFilter
from pgseek.types import (
    Answer,
    AnswerDelta,
    AnswerEvent,
    ApiKey,
    Chunk,
    Citation,
    CollectionInfo,
    Context,
    Document,
    DocumentPage,
    DocumentSummary,
    Hit,
    IngestReport,
    LegRank,
    LoadFailure,
    ModelInfo,
    NewApiKey,
    Readiness,
    SearchResult,
    SkippedFile,
    StoredDocument,
    Timings,
)

if TYPE_CHECKING:
    from pgseek.config import Settings
    from pgseek.providers.protocols import Generator
    from pgseek.search.engine import SearchOptions
    from pgseek.seek import AsyncSeek, Seek

_LAZY = {
    "AsyncSeek": "pgseek.seek",
    "Generator": "pgseek.providers.protocols",
    "SearchOptions": "pgseek.search.engine",
    "Seek": "pgseek.seek",
    "Settings": "pgseek.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pgseek' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Answer",
    "AnswerDelta",
    "AnswerEvent",
    "ApiKey",
    "AsyncSeek",
    "AuthenticationError",
    "BrokerError",
    "Chunk",
    "Citation",
    "CollectionInfo",
    "Condition",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "DataRejectedError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "Document",
    "DocumentError",
    "DocumentPage",
    "DocumentSummary",
    "EmbeddingError",
    "GenerationError",
    "Generator",
    "Hit",
    "IngestInterruptedError",
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
    "SkippedFile",
    "StoredDocument",
    "Timings",
]
__version__ = "0.1.0"
