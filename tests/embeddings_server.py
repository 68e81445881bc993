"""A real HTTP server on 127.0.0.1 that speaks the OpenAI embeddings API with real vectors, scripted reply by reply.

Vectors come from a real model (the test suite's all-MiniLM-L6-v2), so that search over them means something; pgseek's
embeddings client is tested against it unchanged: real sockets, real timeouts, real dropped connections.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tests.local_http import LocalHTTPServer

Vectors = Callable[[Sequence[str]], NDArray[np.float32]]


@dataclass
class Reply:
    """One scripted answer; the default is a correct one."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (beyond the client's read timeout: a timeout)."""
    drop: bool = False
    """Close the connection without answering."""
    raw: bytes | None = None
    """A body sent as is (a malformed answer)."""
    dimensions_off: int = 0
    """Added to every vector's length (a model that is not the one configured)."""
    reverse: bool = False
    """List the vectors last first; their ``index`` fields still say which input each belongs to."""


@dataclass
class Recorded:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]


class EmbeddingsServer(LocalHTTPServer):
    def __init__(self, vectors: Vectors, *, delay: float = 0.0) -> None:
        self.vectors = vectors
        self.default = Reply(delay=delay)
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__(_handler(self), "embeddings-server")

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def inputs(self) -> list[list[str]]:
        """The inputs of each request received, in order."""
        return [list(r.body.get("input", [])) for r in self.requests]

    def _begin(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.replies.popleft() if self.replies else self.default

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _handler(server: EmbeddingsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers: a dropped connection is then a surprise

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"_unparsed": raw.decode("utf-8", "replace")}
            path, _, query = self.path.partition("?")
            if not path.endswith("/embeddings"):
                self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._begin(Recorded(path, query, headers, body))
            try:
                time.sleep(reply.delay)
                self._answer(reply, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)
            finally:
                server._end()

        def _answer(self, reply: Reply, body: dict[str, Any]) -> None:
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.raw is not None:
                self._send(reply.status, reply.raw, reply.headers)
                return
            if reply.status != 200:
                error = {"error": {"message": f"scripted failure {reply.status}", "type": "server_error"}}
                self._json(reply.status, error, reply.headers)
                return
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
                self._json(400, {"error": {"message": "'input' must be a string or a list of strings"}})
                return
            vectors = server.vectors(texts)
            dimensions = body.get("dimensions")
            if dimensions is not None:
                if not isinstance(dimensions, int) or not 1 <= dimensions <= vectors.shape[1]:
                    self._json(400, {"error": {"message": f"'dimensions' must be 1..{vectors.shape[1]}"}})
                    return
                # As text-embedding-3 does: the leading dimensions, renormalised.
                vectors = vectors[:, :dimensions]
                vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            if reply.dimensions_off:
                vectors = np.pad(vectors, ((0, 0), (0, reply.dimensions_off)))
            base64_out = body.get("encoding_format") == "base64"
            data = [
                {"object": "embedding", "index": i, "embedding": _encode(vector, base64_out)}
                for i, vector in enumerate(vectors)
            ]
            if reply.reverse:
                data.reverse()
            usage = {"prompt_tokens": sum(len(t.split()) for t in texts), "total_tokens": 0}
            self._json(200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage})

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), headers or {})

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _encode(vector: NDArray[np.float32], as_base64: bool) -> Any:
    if as_base64:
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]
