"""Answers with citations: JSON like ``pgseek ask --json``, or server-sent events with Accept: text/event-stream."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from pgseek.api.deps import KeyDep, MetricsDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES, status_of
from pgseek.api.observability import Metrics
from pgseek.api.schemas import AnswerDeltaPublic, AnswerPublic, AskRequest, ErrorDetail, ErrorResponse
from pgseek.errors import PgseekError
from pgseek.types import Answer, AnswerEvent

router = APIRouter(prefix="/v1", tags=["answers"], responses=ERROR_RESPONSES)
EVENT_STREAM = "text/event-stream"
_STREAM_DOC = (
    "With `Accept: text/event-stream`: server-sent events. `delta` events carry pieces of the answer's text as it is "
    "written (`AnswerDeltaPublic`), one `answer` event ends the stream with the whole answer (`AnswerPublic`, "
    "authoritative: unknown [n] markers removed). A failure after the stream has started arrives as an `error` "
    "event holding an `ErrorResponse`."
)


def _event(name: str, body: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


def _observe(metrics: Metrics, answer: Answer) -> None:
    metrics.observe_stages("ask", answer.to_json()["timings_ms"])


async def _stream(
    first: AnswerEvent, events: AsyncGenerator[AnswerEvent, None], metrics: Metrics
) -> AsyncIterator[str]:
    event: AnswerEvent | None = first
    try:
        while event is not None:
            if isinstance(event, Answer):
                _observe(metrics, event)
                yield _event(event.event, AnswerPublic.of(event).model_dump())
            else:
                yield _event(event.event, AnswerDeltaPublic(text=event.text).model_dump())
            event = await anext(events, None)
    except PgseekError as exc:  # the status line is sent already: the error travels as the last event
        _, code = status_of(exc)
        yield _event("error", ErrorResponse(error=ErrorDetail(code=code, message=str(exc))).model_dump())
    finally:
        await events.aclose()  # a client that hangs up also ends the model's request


@router.post(
    "/ask",
    response_model=AnswerPublic,
    responses={
        200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}, "description": _STREAM_DOC},
        404: {"model": ErrorResponse, "description": "No collection of that name"},
        502: {"model": ErrorResponse, "description": "The answer model (an OpenAI-compatible server) failed"},
    },
)
async def ask(body: AskRequest, request: Request, key: KeyDep, seek: SeekDep, metrics: MetricsDep) -> Response:
    """Answer a question from the tenant's documents only, citing the chunks used as [n]; refuse (`refused`, no
    citations) when they do not answer it. JSON by default, a stream of server-sent events on request."""
    options: dict[str, Any] = {
        "k": body.k,
        "mode": body.mode,
        "collection": body.collection,
        "tenant": key.tenant,
        "filter": body.filters.to_filter() if body.filters is not None else None,
        "min_lsn": body.min_lsn,
    }
    if EVENT_STREAM in request.headers.get("accept", ""):
        events = seek.ask_stream(body.question, **options)
        # The first event is awaited here, so that what fails before any text exists (an unknown collection, a bad
        # question, a model server that is down) is an ordinary error response with its status code.
        first = await anext(events)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_stream(first, events, metrics), media_type=EVENT_STREAM, headers=headers)
    answer = await seek.ask(body.question, **options)
    _observe(metrics, answer)
    return Response(AnswerPublic.of(answer).model_dump_json(), media_type="application/json")
