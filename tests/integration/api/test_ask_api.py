"""POST /v1/ask: JSON shaped like ``pgseek ask --json``, or server-sent events; the offline extractive generator with
the real model, and the OpenAI-compatible client against a local Chat Completions server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.chat_server import ChatServer, Reply
from tests.integration.api.conftest import OPERATOR, bearer

DOCS = [
    {
        "id": "bread",
        "title": "Sourdough",
        "text": "Sourdough bread rises slowly because wild yeast ferments the dough. "
        "The starter is fed with flour and water every day.",
    },
    {
        "id": "tower",
        "title": "Eiffel Tower",
        "text": "The Eiffel Tower was finished in 1889 for the World's Fair. It is 330 metres tall.",
    },
]
QUESTION = "Why does sourdough bread rise?"


@pytest.fixture(scope="module")
async def key(facade: AsyncSeek, client: httpx.AsyncClient) -> dict[str, str]:
    headers = bearer((await facade.create_api_key("acme")).key)
    response = await client.post("/v1/collections/kb/documents", json={"documents": DOCS}, headers=headers)
    assert response.json()["documents_added"] == 2
    return headers


def events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events as (event, data) pairs."""
    parsed = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "timings_ms"}


async def test_ask_answers_with_citations_like_the_cli(
    client: httpx.AsyncClient, key: dict[str, str], settings: Settings
) -> None:
    response = await client.post("/v1/ask", json={"question": QUESTION, "collection": "kb"}, headers=key)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"answer", "citations", "refused", "timings_ms", "model"}
    assert not answer["refused"] and answer["citations"][0]["document_id"] == "bread"
    assert f"[{answer['citations'][0]['marker']}]" in answer["answer"]
    assert set(answer["timings_ms"]) == {"embed", "search", "generate", "total", "load"}

    env = {**os.environ, "PGSEEK_DATABASE_URL": str(settings.database_url), "PGSEEK_HOME": str(settings.home)}
    cli = subprocess.run(
        [sys.executable, "-m", "pgseek", "ask", QUESTION, "-c", "kb", "-t", "acme", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    assert without_timings(answer) == without_timings(json.loads(cli.stdout))


async def test_ask_streams_server_sent_events(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    body = {"question": QUESTION, "collection": "kb"}
    plain = (await client.post("/v1/ask", json=body, headers=key)).json()
    response = await client.post("/v1/ask", json=body, headers={**key, "Accept": "text/event-stream"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    stream = events(response.text)
    names = [name for name, _ in stream]
    assert names[-1] == "answer" and names[:-1] and set(names[:-1]) == {"delta"}  # a delta per sentence
    streamed_text = "".join(data["text"] for name, data in stream if name == "delta")
    final = stream[-1][1]
    assert streamed_text == final["answer"]
    assert without_timings(final) == without_timings(plain)


async def test_ask_refuses_when_the_documents_do_not_answer(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    body = {"question": "How do I change a bicycle tyre?", "collection": "kb"}
    for headers in (key, {**key, "Accept": "text/event-stream"}):
        response = await client.post("/v1/ask", json=body, headers=headers)
        answer = response.json() if "json" in response.headers["content-type"] else events(response.text)[-1][1]
        assert answer["refused"] is True and answer["citations"] == []


async def test_ask_errors_before_any_text_are_plain_error_responses(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    for headers in (key, {**key, "Accept": "text/event-stream"}):
        missing = await client.post("/v1/ask", json={"question": QUESTION, "collection": "nowhere"}, headers=headers)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        blank = await client.post("/v1/ask", json={"question": "  "}, headers=headers)
        assert blank.status_code == 422 and blank.json()["error"]["field"] == "question"
    assert (await client.post("/v1/ask", json={"question": QUESTION})).status_code == 401


async def test_ask_is_measured(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    await client.post("/v1/ask", json={"question": QUESTION, "collection": "kb"}, headers=key)
    text = (await client.get("/metrics", headers=OPERATOR)).text
    for stage in ("embed", "search", "generate", "total"):
        assert f'pgseek_stage_duration_seconds_count{{operation="ask",stage="{stage}"}}' in text


async def test_an_openai_compatible_model_streams_and_its_failures_are_502(
    settings: Settings, local_embedder: Any, facade: AsyncSeek, chat_server: ChatServer
) -> None:
    remote = settings.model_copy(
        update={"generator": "openai", "openai_base_url": chat_server.url, "openai_max_retries": 0}
    )
    app = create_app(remote, embedder=local_embedder)
    headers = bearer((await facade.create_api_key("acme")).key)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        chat_server.queue(Reply(content="Wild yeast ferments the dough, so it rises [1]. Towers [7] are not it."))
        body = {"question": QUESTION, "collection": "kb"}
        response = await c.post("/v1/ask", json=body, headers={**headers, "Accept": "text/event-stream"})
        stream = events(response.text)
        assert [name for name, _ in stream].count("delta") > 3
        final = stream[-1][1]
        assert final["model"] == remote.openai_model and "[7]" not in final["answer"]
        assert [c["marker"] for c in final["citations"]] == [1] and final["citations"][0]["document_id"] == "bread"
        prompt = json.dumps(chat_server.requests[-1].body)
        assert "wild yeast ferments the dough" in prompt  # the retrieved context went to the model

        chat_server.queue(Reply(status=503))
        failed = await c.post("/v1/ask", json=body, headers=headers)
        assert failed.status_code == 502 and failed.json()["error"]["code"] == "generation_failed"
        chat_server.queue(Reply(status=503))
        streamed = await c.post("/v1/ask", json=body, headers={**headers, "Accept": "text/event-stream"})
        assert streamed.status_code == 502  # failed before the first piece of text: a plain error response
