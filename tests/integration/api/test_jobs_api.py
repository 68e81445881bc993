"""Asynchronous ingest over HTTP (issue 14 part 3): `wait=false` answers 202 with job ids, a worker running in the
service's own process (`queue_workers`) writes them, `GET /v1/jobs` waits until they are searchable; jobs are the
tenant's own; /metrics shows the queue. Real PostgreSQL, the real model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.integration.api.conftest import OPERATOR, bearer

NOTES = [
    {"id": "lamp", "title": "Lamps", "text": "Lighthouse lamps burned whale oil before kerosene.", "metadata": {}},
    {"id": "bees", "title": "Bees", "text": "Honeybees dance to show where the flowers are.", "metadata": {}},
]


@pytest.fixture(scope="module")
async def app(settings: Settings, local_embedder: Any) -> AsyncIterator[FastAPI]:
    """The service with one queue worker slot of its own, polling often."""
    working = settings.model_copy(update={"queue_workers": 1, "worker_poll_s": 0.2})
    application = create_app(working, embedder=local_embedder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def key(facade: AsyncSeek) -> str:
    return (await facade.create_api_key("acme", name="jobs")).key


@pytest.fixture(scope="module")
async def other_key(facade: AsyncSeek) -> str:
    return (await facade.create_api_key("globex", name="jobs")).key


async def test_wait_false_queues_and_the_jobs_can_be_waited_for(
    client: httpx.AsyncClient, key: str, other_key: str
) -> None:
    queued = await client.post(
        "/v1/collections/async_notes/documents",
        params={"wait": "false"},
        json={"documents": NOTES},
        headers=bearer(key),
    )
    assert queued.status_code == 202, queued.text
    jobs = queued.json()["jobs"]
    assert [j["document_id"] for j in jobs] == ["lamp", "bees"]
    ids = [j["id"] for j in jobs]
    waited = await client.get("/v1/jobs", params={"ids": ids, "wait": 30}, headers=bearer(key))
    assert waited.status_code == 200, waited.text
    assert waited.json()["finished"] is True
    assert [j["state"] for j in waited.json()["jobs"]] == ["done", "done"]
    found = await client.post(
        "/v1/search", json={"query": "whale oil", "collection": "async_notes", "k": 1}, headers=bearer(key)
    )
    assert found.json()["hits"][0]["document_id"] == "lamp"
    one = await client.get(f"/v1/jobs/{ids[0]}", headers=bearer(key))
    assert one.status_code == 200 and one.json()["outcome"] == "written"
    # Another tenant sees neither the job nor the documents.
    assert (await client.get(f"/v1/jobs/{ids[0]}", headers=bearer(other_key))).status_code == 404
    theirs = await client.get("/v1/jobs", params={"ids": ids}, headers=bearer(other_key))
    assert theirs.json()["jobs"] == []
    text = (await client.get("/metrics", headers=OPERATOR)).text
    assert 'pgseek_queue_jobs{collection="async_notes",state="pending"} 0.0' in text
    assert "pgseek_queue_workers 1.0" in text


async def test_bad_documents_are_refused_before_anything_is_queued(client: httpx.AsyncClient, key: str) -> None:
    bad = await client.post(
        "/v1/collections/async_notes/documents",
        params={"wait": "false"},
        json={"documents": [{"id": "x", "text": ""}]},
        headers=bearer(key),
    )
    assert bad.status_code == 422
    assert (await client.get("/v1/jobs/999999", headers=bearer(key))).status_code == 404
