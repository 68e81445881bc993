"""What routes receive: the facade, the metrics, and the API key that authenticated the request (hence its tenant)."""

from __future__ import annotations

import hmac
from typing import Annotated, cast

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pgseek.api.backfills import Backfills
from pgseek.api.observability import Metrics, current_request
from pgseek.api.schemas import NAME_PATTERN
from pgseek.errors import AuthenticationError
from pgseek.seek import AsyncSeek
from pgseek.types import ApiKey


def get_seek(request: Request) -> AsyncSeek:
    return cast(AsyncSeek, request.app.state.seek)


def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


def get_backfills(request: Request) -> Backfills:
    return cast(Backfills, request.app.state.backfills)


SeekDep = Annotated[AsyncSeek, Depends(get_seek)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BackfillsDep = Annotated[Backfills, Depends(get_backfills)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made by `pgseek keys create --tenant T`; it decides the tenant of every request.",
)


async def current_key(
    seek: SeekDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiKey:
    if credentials is None:
        raise AuthenticationError(
            "this endpoint needs an API key: send Authorization: Bearer <key> (pgseek keys create --tenant T)"
        )
    key = await seek.authenticate(credentials.credentials)
    context = current_request.get()
    if context is not None:
        context.tenant = key.tenant
    return key


KeyDep = Annotated[ApiKey, Depends(current_key)]


async def operator(
    seek: SeekDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Let the request through only with the operator key (PGSEEK_OPERATOR_KEY); a tenant's API key is not one.

    Operator endpoints describe every tenant at once (decision 0007), so no tenant may read them.
    """
    expected = seek.settings.operator_key
    if expected is None:
        raise AuthenticationError(
            "this is an operator endpoint and the server has no operator key: set PGSEEK_OPERATOR_KEY on the server "
            "and send it as Authorization: Bearer <operator key>"
        )
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise AuthenticationError(
            "this is an operator endpoint: send Authorization: Bearer <operator key> (PGSEEK_OPERATOR_KEY); "
            "tenant API keys are not accepted"
        )


OperatorDep = Annotated[None, Depends(operator)]
CollectionPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NAME_PATTERN, description="The collection's name.")
]
