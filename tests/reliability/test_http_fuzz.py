"""HTTP fuzz of the service over real sockets: schemathesis over its own OpenAPI document (more examples than the
integration test), then a hand-written table of hostile values sent to every endpoint: lone surrogates, huge
numbers, NaN and infinities, deep nesting, dot segments (also as raw paths that no normalising client would send),
oversized lists. Input must never get a 5xx: the target is 0.

    pytest tests/reliability/test_http_fuzz.py -m slow -s    # prints: http fuzz: N requests, M 5xx ...
"""

from __future__ import annotations

import http.client
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from pgseek.config import Settings
from pgseek.seek import Seek
from tests.integration.api.conftest import LiveServer, bearer, live_server, openapi_schema

pytestmark = pytest.mark.slow
__all__ = ["live_server"]  # the fixture, imported to be used here

# Per operation and generation mode (the integration test runs 15).
MAX_EXAMPLES = 50

schema = openapi_schema(MAX_EXAMPLES)


@dataclass
class Tally:
    """Requests sent and the 5xx among them, over the whole module."""

    requests: int = 0
    server_errors: list[str] = field(default_factory=list)

    def record(self, what: str, status: int, body: str) -> None:
        self.requests += 1
        if status >= 500:
            self.server_errors.append(f"{status} {what}: {body[:300]}")


TALLY = Tally()


@pytest.fixture(scope="module")
def auth(live_server: LiveServer, settings: Settings, local_embedder: Any) -> dict[str, str]:
    with Seek(settings, embedder=local_embedder) as seek:
        key = seek.create_api_key("fuzz").key
        seek.ingest_documents(
            [_doc("seed", "A lighthouse warns ships of rocks with a rotating lamp.")], collection="fuzz", tenant="fuzz"
        )
    return bearer(key)


def _doc(external_id: str, text: str) -> Any:
    from pgseek.types import Document

    return Document(external_id, text, metadata={"year": 2020, "tags": ["a", "b"]})


@schema.parametrize()
def test_generated_requests_get_no_server_error(case: Any, live_server: LiveServer, auth: dict[str, str]) -> None:
    response = case.call(base_url=live_server.url, headers=auth)
    TALLY.record(f"{case.method} {case.formatted_path}", response.status_code, response.text)
    assert response.status_code < 500, response.text


# --- hand-written hostile values ------------------------------------------------------------------------------------

# JSON texts, spliced into request bodies where a value goes (json.dumps could not write most of them).
DEEP = "[" * 5000 + "]" * 5000
HOSTILE_JSON: tuple[str, ...] = (
    '"\\ud800"',
    '"x\\udfff"',
    '{"\\ud800": 1}',
    '"\\u0000"',
    '"."',
    '".."',
    '"x/.."',
    '"%2e%2e"',
    '"a\\\\..\\\\b"',
    '""',
    "1" + "0" * 400,
    "-" + "9" * 30,
    "9" * 5000,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "[" * 40 + "]" * 40,
    "[" * 900 + "]" * 900,
    DEEP,
    '{"a":' * 5000 + "1" + "}" * 5000,
    "[" + ",".join(['"x"'] * 20_000) + "]",
    "[" + ",".join(str(i) for i in range(20_000)) + "]",
    "null",
    "true",
    "{}",
    "[]",
)
V = "@@V@@"  # where the hostile value goes in a template
BODY_TEMPLATES: dict[str, tuple[str, ...]] = {
    "/v1/collections": (
        '{"name": @@V@@}',
        '{"name": "fz", "distance": @@V@@}',
        '{"name": "fz", "text_search_config": @@V@@}',
    ),
    "/v1/collections/fuzz/documents": (
        "@@V@@",
        '{"documents": @@V@@}',
        '{"documents": [@@V@@]}',
        '{"documents": [{"id": @@V@@, "text": "t"}]}',
        '{"documents": [{"id": "h1", "text": @@V@@}]}',
        '{"documents": [{"id": "h2", "text": "t", "title": @@V@@}]}',
        '{"documents": [{"id": "h3", "text": "t", "metadata": @@V@@}]}',
        '{"documents": [{"id": "h4", "text": "t", "metadata": {"k": @@V@@}}]}',
        '{"documents": [{"id": "h5", "text": "t", "metadata": {"k": [1, {"j": @@V@@}]}}]}',
    ),
    "/v1/search": (
        "@@V@@",
        '{"query": @@V@@, "collection": "fuzz"}',
        '{"query": "lamp", "collection": @@V@@}',
        *(
            '{"query": "lamp", "collection": "fuzz", ' + part + "}"
            for part in (
                '"k": @@V@@',
                '"mode": @@V@@',
                '"min_score": @@V@@',
                '"filters": @@V@@',
                '"filters": {"metadata": @@V@@}',
                '"filters": {"metadata": [{"key": @@V@@, "op": "eq", "value": 1}]}',
                '"filters": {"metadata": [{"key": "year", "op": "eq", "value": @@V@@}]}',
                '"filters": {"metadata": [{"key": "year", "op": "gt", "value": @@V@@}]}',
                '"filters": {"metadata": [{"key": "tags", "op": "in", "value": @@V@@}]}',
                '"filters": {"metadata": [{"key": "k", "op": "in", "value": [@@V@@]}]}',
                '"filters": {"contains": @@V@@}',
                '"filters": {"contains": {"k": @@V@@}}',
                '"filters": {"document_ids": @@V@@}',
                '"filters": {"document_ids": [@@V@@]}',
                '"filters": {"created_after": @@V@@}',
            )
        ),
    ),
    "/v1/ask": (
        '{"question": @@V@@, "collection": "fuzz"}',
        '{"question": "what warns ships?", "collection": "fuzz", "k": @@V@@}',
        '{"question": "what warns ships?", "collection": "fuzz", "filters": {"contains": {"k": @@V@@}}}',
        '{"question": "what warns ships?", "collection": "fuzz", "filters": {"metadata": [{"key": "y", "op": "lt", '
        '"value": @@V@@}]}}',
    ),
}
# Path segments as sent on the wire (already percent-encoded where they are).
HOSTILE_SEGMENTS: tuple[str, ...] = (
    "..",
    ".",
    "x/..",
    "x/../..",
    "%2e%2e",
    "%2E",
    "..%2F..",
    "a%5C..",
    "%ED%A0%80",
    "%FF%FE",
    "%00",
    "%25",
    "%",
    "a" * 5000,
    "seed/..",
)
HOSTILE_QUERIES: tuple[str, ...] = ("", "?confirm=", "?confirm=%ED%A0%80", "?confirm=%00", "?confirm=fuzz&confirm=x")
HOSTILE_FILENAMES: tuple[str, ...] = ("..", ".", "x/..", "%2e%2e.txt", "a/../b.md", "ok.jsonl", "noext", "\x7f.txt")


def _bodies() -> Iterator[tuple[str, str]]:
    for (url, templates), value in itertools.product(BODY_TEMPLATES.items(), HOSTILE_JSON):
        for template in templates:
            yield url, template.replace(V, value)


def _raw_request(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A request whose path is sent exactly as given (http.client, like curl --path-as-is, normalises nothing)."""
    parsed = httpx.URL(url)
    conn = http.client.HTTPConnection(parsed.host, parsed.port, timeout=120)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_hostile_values_get_no_server_error(live_server: LiveServer, auth: dict[str, str]) -> None:
    before = len(TALLY.server_errors)
    json_headers = {**auth, "Content-Type": "application/json"}
    with httpx.Client(base_url=live_server.url, timeout=120) as client:
        for url, body in _bodies():
            response = client.post(url, content=body.encode("utf-8", "surrogatepass"), headers=json_headers)
            TALLY.record(f"POST {url} {body[:120]}", response.status_code, response.text)
        for segment, query in itertools.product(HOSTILE_SEGMENTS, HOSTILE_QUERIES):
            for method, path in (
                ("GET", f"/v1/collections/fuzz/documents/{segment}"),
                ("DELETE", f"/v1/collections/fuzz/documents/{segment}{query}"),
                ("GET", f"/v1/collections/{segment}"),
                ("DELETE", f"/v1/collections/{segment}{query}"),
                ("POST", f"/v1/collections/{segment}/documents"),
            ):
                # Once as httpx sends it (dot segments removed, as every RFC 3986 client does), once raw.
                response = client.request(method, path, headers=auth, json={"documents": [{"id": "p", "text": "t"}]})
                TALLY.record(f"{method} {path} (httpx)", response.status_code, response.text)
                status, text = _raw_request(live_server.url, method, path, auth)
                TALLY.record(f"{method} {path} (raw)", status, text)
        records = [f'{{"id": "j{i}", "text": "t", "metadata": {{"k": {v}}}}}' for i, v in enumerate(HOSTILE_JSON)]
        lines = "\n".join(['{"id": "j", "text": "fine"}', *records, DEEP, '{"id": "..", "text": "t"}'])
        for name in HOSTILE_FILENAMES:
            data = lines.encode("utf-8", "surrogatepass") if name.endswith(".jsonl") else b"some text"
            files = [("files", (name, data, "application/octet-stream"))]
            response = client.post("/v1/collections/fuzz/files", files=files, headers=auth)
            TALLY.record(f"POST files {name!r}", response.status_code, response.text)
        # The collection must have survived everything above: the seed document is still there.
        seed = client.get("/v1/collections/fuzz/documents/seed", headers=auth)
        assert seed.status_code == 200, seed.text
    assert TALLY.server_errors[before:] == []


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nhttp fuzz: {TALLY.requests} requests sent, {len(TALLY.server_errors)} got a 5xx (target 0)")
    assert TALLY.server_errors == [], "\n".join(TALLY.server_errors[:20])


def test_hostile_json_templates_are_json_when_the_value_is() -> None:
    # Guards the table itself: a template typo would make every request a 400 and test nothing.
    for templates in BODY_TEMPLATES.values():
        for template in templates:
            json.loads(template.replace(V, "1"))
