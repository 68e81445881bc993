"""Every error leaves the service as ``{"error": {"code", "message", "field"}}`` with one status per kind.

    PgseekError                     status  code
    ├── AuthenticationError         401     unauthorized
    ├── InputError                  422     invalid_input
    │   ├── QueryError              422     invalid_query
    │   ├── DocumentError           422     invalid_document
    │   └── PayloadTooLargeError    413     payload_too_large
    ├── NotFoundError               404     not_found
    ├── ConflictError               409     conflict
    ├── ConfigurationError          400     bad_configuration
    ├── DatabaseError               500     database_error (a bug; the message never quotes SQL)
    │   ├── DatabaseUnavailableError 503    database_unavailable (down, unreachable, restarting, timed out)
    │   ├── DataRejectedError       422     rejected_by_database (the database refused this input)
    │   ├── PgvectorMissingError    503     pgvector_missing
    │   └── MigrationError          503     migration_failed
    ├── EmbeddingError              503     model_unavailable
    ├── GenerationError             502     generation_failed (the answer model, an upstream server, failed)
    └── IngestInterruptedError      503     interrupted (the service is stopping: what was committed is kept)

Requests FastAPI cannot validate are 422 ``validation_error`` (400 ``invalid_json`` when the body is not JSON at
all); unknown routes 404, wrong methods 405; anything unexpected 500 ``internal``, logged with its traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from pgseek.api.schemas import ErrorDetail, ErrorResponse
from pgseek.errors import (
    AuthenticationError,
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

log = logging.getLogger("pgseek.api")

# Most specific first: the first class an error is an instance of decides.
STATUSES: tuple[tuple[type[PgseekError], int, str], ...] = (
    (AuthenticationError, 401, "unauthorized"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (QueryError, 422, "invalid_query"),
    (DocumentError, 422, "invalid_document"),
    (InputError, 422, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (ConfigurationError, 400, "bad_configuration"),
    (DatabaseUnavailableError, 503, "database_unavailable"),
    (DataRejectedError, 422, "rejected_by_database"),
    (PgvectorMissingError, 503, "pgvector_missing"),
    (MigrationError, 503, "migration_failed"),
    (DatabaseError, 500, "database_error"),
    (EmbeddingError, 503, "model_unavailable"),
    (GenerationError, 502, "generation_failed"),
    (IngestInterruptedError, 503, "interrupted"),
)
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "The body is not valid JSON, or names a setting this server lacks"),
        (401, "No API key, or an unknown or revoked one"),
        (413, "Request body or batch over the configured limit"),
        (422, "A field is missing or invalid; `field` names it"),
        (503, "Database or model unavailable: retry later"),
    )
}
"""Error responses every /v1 route may give, for its OpenAPI description."""


def error_response(status: int, code: str, message: str, field: str | None = None, **headers: str) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers or None)


def status_of(exc: PgseekError) -> tuple[int, str]:
    for kind, status, code in STATUSES:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"


def _field(loc: Sequence[int | str]) -> str | None:
    parts = [str(p) for p in loc]
    if parts[:1] and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


async def _pgseek_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PgseekError)
    status, code = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, DatabaseUnavailableError):
        request.app.state.seek.suspect_database()
        headers["Retry-After"] = "1"
    elif status == 500:
        log.error("database error", exc_info=exc)
    field = exc.field if isinstance(exc, InputError | DataRejectedError) else None
    return error_response(status, code, str(exc), field, **headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(422, "validation_error", "the request is not valid")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(400, "invalid_json", f"the body is not valid JSON: {first.get('msg', '')}")
    field = _field(first.get("loc", ()))
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    message = f"{field or 'request'}: {first.get('msg', 'invalid')}{more}"
    return error_response(422, "validation_error", message, field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        what = "no such endpoint" if exc.status_code == 404 else "this endpoint does not take that method"
        message = f"{what}: {request.method} {request.url.path}; the API is described at /docs"
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(exc.status_code, code, message, **headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path: Starlette's own Allow names only the first route's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PgseekError, _pgseek_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
