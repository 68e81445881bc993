"""A real HTTP server on 127.0.0.1 that speaks the OpenAI Chat Completions API, scripted reply by reply.

pgseek's OpenAI-compatible client is tested against it unchanged: real sockets, real timeouts, real server-sent events.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import LocalHTTPServer

PATH = "/v1/chat/completions"


@dataclass
class Reply:
    """One scripted answer. ``content`` is the answer text; streamed, it goes out as ``pieces`` (default: words)."""

    content: str = "The tower was finished in 1889 [1]."
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's read timeout: a timeout)."""
    pieces: list[str] | None = None
    raw: bytes | None = None
    """A body sent as is, instead of a completion (a malformed answer)."""
    raw_events: list[str] | None = None
    """Streamed: these ``data:`` payloads as is, instead of well-formed chunks."""
    hold_after_first: bool = False
    """Streamed: after the first piece, wait until the test sets ``ChatServer.release`` (at most 10 s)."""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class ChatServer(LocalHTTPServer):
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        """When set, answers each request that no queued reply is left for, from the request's body."""
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        self.released_in_time: bool | None = None
        self.gone_before_done = threading.Event()
        """Set when a held stream's client hung up before the stream's end."""
        self._lock = threading.Lock()
        super().__init__(_handler(self), "chat-server")

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            if self.replies:
                return self.replies.popleft()
        return self.responder(recorded.body) if self.responder is not None else self.default

    def stop(self) -> None:
        self.release.set()  # a held stream ends, so that its thread does too
        super().stop()


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"_unparsed": raw.decode("utf-8", "replace")}
            recorded = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            if self.path != PATH:
                self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            reply = server.next_reply(recorded)
            try:
                time.sleep(reply.delay)
                self._answer(reply, stream=bool(body.get("stream")), model=str(body.get("model")))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def _answer(self, reply: Reply, *, stream: bool, model: str) -> None:
            if reply.raw is not None:
                self._send(reply.status, reply.raw, "application/json", reply.headers)
            elif reply.status != 200:
                error = {"error": {"message": f"scripted failure {reply.status}", "type": "server_error"}}
                self._json(reply.status, error, reply.headers)
            elif stream:
                self._stream(reply, model)
            else:
                self._json(200, _completion(reply.content, model), reply.headers)

        def _stream(self, reply: Reply, model: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.raw_events is not None:
                events = reply.raw_events
            else:
                pieces = reply.pieces if reply.pieces is not None else _words(reply.content)
                events = [json.dumps(_chunk(model, {"role": "assistant"}))]
                events += [json.dumps(_chunk(model, {"content": p})) for p in pieces]
                events += [json.dumps(_chunk(model, {}, finish="stop")), "[DONE]"]
            content_sent = 0
            for event in events:
                try:
                    self.wfile.write(f"data: {event}\n\n".encode())
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.gone_before_done.set()
                    return
                if '"content"' in event:
                    content_sent += 1
                    if content_sent == 1 and reply.hold_after_first:
                        server.released_in_time = server.release.wait(10)
                if reply.hold_after_first and content_sent:
                    time.sleep(0.02)  # lets a hang-up reach this side before the next write

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", headers or {})

        def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
