"""What routes receive: the facade, the metrics, and the API key that authenticated the request (hence its tenant)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pgseek.api.observability import Metrics, current_request
from pgseek.api.schemas import NAME_PATTERN
from pgseek.errors import AuthenticationError
from pgseek.seek import AsyncSeek
from pgseek.types import ApiKey


def get_seek(request: Request) -> AsyncSeek:
    return cast(AsyncSeek, request.app.state.seek)


def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


SeekDep = Annotated[AsyncSeek, Depends(get_seek)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

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
CollectionPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NAME_PATTERN, description="The collection's name.")
]
