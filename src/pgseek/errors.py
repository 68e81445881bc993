"""pgseek's exceptions: one root, a short tree under it.

    PgseekError
    ├── ConfigurationError        a setting is missing or wrong
    ├── DatabaseError             PostgreSQL is unreachable or unusable
    │   ├── PgvectorMissingError  the server lacks pgvector, or has one older than 0.5
    │   └── MigrationError        a schema migration failed
    ├── InputError                the caller gave something pgseek cannot use
    │   ├── DocumentError         a file or record that cannot be read or parsed
    │   └── QueryError            an empty query, or one longer than the model reads
    ├── NotFoundError             a named collection or document does not exist
    ├── EmbeddingError            the embedding model failed or cannot be loaded
    └── GenerationError           the answer model failed: refused the request, answered garbage, or never answered

Every error says what was wrong and what to do; the cause is chained with ``raise ... from``.
"""

from __future__ import annotations


class PgseekError(Exception):
    """Root of every error pgseek raises on purpose."""


class ConfigurationError(PgseekError):
    """A setting is missing, malformed or contradicts another."""


class DatabaseError(PgseekError):
    """PostgreSQL cannot be reached or used."""


class PgvectorMissingError(DatabaseError):
    """The configured server has no pgvector extension, or one older than 0.5."""


class MigrationError(DatabaseError):
    """A schema migration could not be applied."""


class InputError(PgseekError):
    """Input that pgseek cannot use; ``field`` names the offending part when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DocumentError(InputError):
    """A file or record that cannot be read or parsed."""


class QueryError(InputError):
    """A search query that is empty or too long for the model."""


class NotFoundError(PgseekError):
    """A collection, tenant or document that does not exist."""


class EmbeddingError(PgseekError):
    """The embedding model could not be loaded or failed."""


class GenerationError(PgseekError):
    """The model that writes answers failed: after its last retry, or with an answer that cannot be used.

    ``status`` is the last HTTP status the model server gave (None when it never answered), ``attempts`` the requests
    made.
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
