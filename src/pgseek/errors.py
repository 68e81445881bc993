"""pgseek's exceptions: one root, a short tree under it.

    PgseekError
    ├── ConfigurationError        a setting is missing or wrong
    ├── DatabaseError             PostgreSQL failed in a way no family below covers (a bug: psycopg's
    │   │                         ProgrammingError, InternalError, ...)
    │   ├── DatabaseUnavailableError  the server is gone, unreachable, shutting down or timed out (psycopg's
    │   │                             OperationalError, a pool timeout): retry later; aborts an ingest run
    │   ├── DataRejectedError     the database refused this input (psycopg's DataError, IntegrityError, a program
    │   │                         limit such as a tsvector too long): rejects one document, never the run
    │   ├── PgvectorMissingError  the server lacks pgvector, or has one older than 0.5
    │   └── MigrationError        a schema migration failed
    ├── InputError                the caller gave something pgseek cannot use
    │   ├── DocumentError         a file or record that cannot be read or parsed
    │   ├── QueryError            an empty query, or one longer than the model reads
    │   └── PayloadTooLargeError  a request larger than the server accepts
    ├── AuthenticationError       no API key, or one that is unknown or revoked
    ├── NotFoundError             a named collection, document or API key does not exist
    ├── ConflictError             the request contradicts what exists (a collection created twice)
    ├── EmbeddingError            the embedding model failed or cannot be loaded
    ├── IngestInterruptedError    an ingest run was cancelled (Ctrl-C): carries what was kept
    └── GenerationError           the answer model failed: refused the request, answered garbage, or never answered

Every error says what was wrong and what to do; the cause is chained with ``raise ... from``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgseek.types import IngestReport


class PgseekError(Exception):
    """Root of every error pgseek raises on purpose."""


class ConfigurationError(PgseekError):
    """A setting is missing, malformed or contradicts another."""


class DatabaseError(PgseekError):
    """PostgreSQL cannot be reached or used; the subclasses say whether the server or the input is at fault."""


class DatabaseUnavailableError(DatabaseError):
    """PostgreSQL is down, unreachable, restarting, or did not answer in time: the same request may succeed later.

    ``reason`` is what failed, without the context the message adds (what pgseek was doing).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class DataRejectedError(DatabaseError):
    """PostgreSQL refused this input (a value it cannot store, a constraint): the same input fails again.

    ``field`` names the request's part whose values the statement carried, when the caller knows it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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


class PayloadTooLargeError(InputError):
    """A request body, upload or batch larger than the configured limit."""


class AuthenticationError(PgseekError):
    """A request without a usable API key: missing, malformed, unknown or revoked."""


class NotFoundError(PgseekError):
    """A collection, tenant, document or API key that does not exist."""


class ConflictError(PgseekError):
    """The request contradicts existing state: a collection that exists already, or exists with other settings."""


class BusyError(ConflictError):
    """A lock the operation needs stayed held by work in progress (an ingest run, a long search) past its wait; nothing
    was changed, and the same call may succeed when that work is done."""


class EmbeddingDriftError(ConflictError):
    """The model loaded to write into an embedding version no longer gives that version's vectors for its probe
    sentences (another library version, backend or quantization): writing would mix two vector spaces."""


class EmbeddingError(PgseekError):
    """The embedding model could not be loaded or failed.

    For a hosted model, ``status`` is the last HTTP status its server gave (None when it never answered) and
    ``attempts`` the requests made for the failing batch.
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class GenerationError(PgseekError):
    """The model that writes answers failed: after its last retry, or with an answer that cannot be used.

    ``status`` is the last HTTP status the model server gave (None when it never answered), ``attempts`` the requests
    made.
    """

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class BrokerError(PgseekError):
    """A message broker cannot be reached, or is not set up as asked (a stream without the subject)."""


class IngestInterruptedError(PgseekError):
    """An ingest run was cancelled: it stopped between two model batches. ``report`` counts what was kept (the
    groups committed before the cancellation); ``not_started`` is how many documents read were not written (their
    claims are released: ingesting the same sources again does them)."""

    def __init__(self, report: IngestReport, *, not_started: int) -> None:
        kept = report.documents_added + report.documents_updated + report.documents_unchanged
        super().__init__(f"interrupted: {kept} documents kept, {not_started} not started")
        self.report = report
        self.kept = kept
        self.not_started = not_started
