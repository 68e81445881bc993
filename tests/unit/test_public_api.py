"""The public API is exactly what ``pgseek`` re-exports; a change to it must be deliberate."""

from __future__ import annotations

import pgseek
from pgseek.errors import DocumentError, InputError, PgseekError, QueryError


def test_all_is_sorted_and_complete() -> None:
    assert pgseek.__all__ == sorted(pgseek.__all__)
    assert set(pgseek.__all__) == {
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
    }
    for name in pgseek.__all__:
        assert getattr(pgseek, name) is not None


def test_every_error_is_a_pgseek_error() -> None:
    for name in pgseek.__all__:
        obj = getattr(pgseek, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, PgseekError), name
    assert issubclass(QueryError, InputError) and issubclass(DocumentError, InputError)
    assert QueryError("x", field="query").field == "query"
