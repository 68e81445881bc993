"""Plain ASGI middleware (streaming responses pass through untouched): request ids, logs, metrics, body limits."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgseek.api.errors import error_response
from pgseek.api.observability import Metrics, RequestContext, current_request, request_id

log = logging.getLogger("pgseek.api")
REQUEST_ID_HEADER = "X-Request-ID"


def route_template(scope: Scope) -> str:
    """The matched route's template (/v1/collections/{collection}), never the raw path: bounded metric labels."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestObserver:
    """Outermost layer: gives each request an id (echoed in X-Request-ID), times it, counts it, logs it as one
    JSON line, and turns an unexpected exception into a JSON 500 that quotes the id."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = RequestContext(request_id(Headers(scope=scope).get(REQUEST_ID_HEADER)))
        token = current_request.set(context)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, context.id)
            await send(message)

        started = time.perf_counter()
        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"fields": {"path": scope.get("path")}})
            if response_started:
                raise  # too late for an error body: the server drops the connection
            response = error_response(
                500, "internal", f"internal error; quote request id {context.id} when you report it"
            )
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_progress.dec()
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "request",
                extra={
                    "fields": {
                        # Named here too, not only by the formatter's context lookup: a handler that formats later
                        # (a queue, a test's capture) must still see them.
                        "request_id": context.id,
                        "tenant": context.tenant,
                        "method": scope["method"],
                        "path": scope.get("path"),
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                },
            )
            current_request.reset(token)


class BodyLimit:
    """413 for a body over ``max_bytes``: at once when Content-Length says so, else as soon as the bytes exceed it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"the request body is larger than {self.max_bytes} bytes (PGSEEK_MAX_REQUEST_BYTES): "
            "send less, or split the batch into several requests"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, "payload_too_large", self._message(), "body")(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing (anything else becomes a 400).
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)
