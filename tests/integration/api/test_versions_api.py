"""Embedding versions over HTTP, on a live server with the real model: add a candidate (backfilled by the server),
follow it, compare, activate, roll back, retire; the operator key guards every route; a server that starts resumes
a candidate whose backfill stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pgseek.config import Settings
from pgseek.seek import Seek
from tests.integration.api.conftest import OPERATOR, LiveServer, bearer
from tests.tides import QUERIES, SUBJECTS

COLLECTION = "tides"


def _text(subject: str) -> str:
    # Long enough that 32-token chunks cut each document in several.
    return " ".join([SUBJECTS[subject]] * 3)


@pytest.fixture(scope="module")
def tenant_key(live_server: LiveServer, settings: Settings, local_embedder: Any) -> dict[str, str]:
    with Seek(settings, embedder=local_embedder) as seek:
        key = bearer(seek.create_api_key("acme").key)
    docs = {"documents": [{"id": s, "title": s.title(), "text": _text(s)} for s in SUBJECTS]}
    url = f"{live_server.url}/v1/collections/{COLLECTION}/documents"
    ingested = httpx.post(url, json=docs, headers=key, timeout=120)
    assert ingested.status_code == 200 and ingested.json()["documents_added"] == len(SUBJECTS), ingested.text
    return key


@pytest.fixture(scope="module")
def operator(live_server: LiveServer, tenant_key: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers=OPERATOR, timeout=120) as client:
        yield client


def _golden(folder: Path) -> Path:
    path = folder / "tides-golden.jsonl"
    path.write_text("".join(json.dumps({"query": q, "relevant": [doc]}) + "\n" for q, doc in QUERIES.items()))
    return path


def _until_backfilled(client: httpx.Client, collection: str, version: int) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        response = client.get(f"/v1/collections/{collection}/versions/{version}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["backfilled_at"] is not None and not body["backfill_running"]:
            return body
        assert body["backfill"] is None or body["backfill"]["error"] is None, body
        assert time.monotonic() < deadline, f"version {version} was not backfilled: {body}"
        time.sleep(0.2)


def test_every_version_route_needs_the_operator_key(live_server: LiveServer, tenant_key: dict[str, str]) -> None:
    url = f"{live_server.url}/v1/collections/{COLLECTION}/versions"
    for headers in ({}, tenant_key):
        assert httpx.get(url, headers=headers).status_code == 401
        refused = httpx.post(url, json={"chunk_tokens": 32}, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert httpx.post(f"{live_server.url}/v1/collections/{COLLECTION}/rollback", headers=headers).status_code == 401


def test_add_backfill_compare_activate_rollback_retire(
    operator: httpx.Client, live_server: LiveServer, tenant_key: dict[str, str], tmp_path: Path
) -> None:
    base = f"/v1/collections/{COLLECTION}"
    (first,) = operator.get(f"{base}/versions").json()["versions"]
    assert (first["state"], first["documents_done"], first["documents_total"]) == ("active", 12, 12)

    added = operator.post(f"{base}/versions", json={"chunk_tokens": 32, "chunk_overlap": 4})
    assert added.status_code == 202, added.text
    candidate = added.json()
    assert (candidate["state"], candidate["chunk_tokens"], candidate["model"]) == ("candidate", 32, first["model"])
    assert candidate["backfill"] is not None  # this server runs it
    second = operator.post(f"{base}/versions", json={"chunk_tokens": 48, "chunk_overlap": 4})
    assert second.status_code == 409 and "candidate" in second.json()["error"]["message"]

    done = _until_backfilled(operator, COLLECTION, candidate["id"])
    assert (done["documents_done"], done["documents_total"], done["index_ready"]) == (12, 12, True)
    assert done["chunks"] > first["chunks"] and not done["backfill_stopped"]
    progress = done["backfill"]
    assert progress["stage"] == "done" and progress["chunks_written"] == done["chunks"] and progress["rate"] > 0

    uncompared = operator.post(f"{base}/versions/{candidate['id']}/activate", json={})
    assert uncompared.status_code == 409 and "compare" in uncompared.json()["error"]["message"]
    missing = operator.post(f"{base}/versions/{candidate['id']}/compare", json={"dataset": str(tmp_path / "none")})
    assert missing.status_code == 422, missing.text

    compared = operator.post(
        f"{base}/versions/{candidate['id']}/compare",
        json={"dataset": str(_golden(tmp_path)), "mode": "vector", "tenant": "acme", "sample": 10},
    )
    assert compared.status_code == 200, compared.text
    comparison = compared.json()
    assert comparison["queries"] == len(QUERIES) and comparison["candidate"]["version"] == candidate["id"]
    assert comparison["active"]["ndcg_at_10"] is not None and "nDCG@10" in comparison["verdict"]
    stored = operator.get(f"{base}/versions/{candidate['id']}").json()["comparison"]
    assert stored["verdict"] == comparison["verdict"]

    force = comparison["better"] is False
    activated = operator.post(f"{base}/versions/{candidate['id']}/activate", json={"force": force})
    assert activated.status_code == 200, activated.text
    assert activated.json()["state"] == "active"
    states = {v["id"]: v["state"] for v in operator.get(f"{base}/versions").json()["versions"]}
    assert states == {first["id"]: "previous", candidate["id"]: "active"}
    query = {"query": "who lights the lamp", "collection": COLLECTION}
    hits = httpx.post(f"{live_server.url}/v1/search", json=query, headers=tenant_key)
    assert hits.status_code == 200 and hits.json()["hits"][0]["document_id"] == "lighthouse"

    rolled = operator.post(f"{base}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["id"], rolled.json()["state"]) == (first["id"], "active")
    active = operator.delete(f"{base}/versions/{first['id']}")
    assert active.status_code == 409 and "active" in active.json()["error"]["message"]  # never retired

    retired = operator.delete(f"{base}/versions/{candidate['id']}")
    assert retired.status_code == 200, retired.text
    assert retired.json()["state"] == "retired"
    again = operator.post(f"{base}/rollback")
    assert again.status_code == 409 and "previous" in again.json()["error"]["message"]


def test_unknown_versions_and_collections_are_404_and_bad_bodies_422(operator: httpx.Client) -> None:
    unknown = operator.get(f"/v1/collections/{COLLECTION}/versions/999999")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert operator.get("/v1/collections/no-such-collection/versions").status_code == 404
    assert operator.delete(f"/v1/collections/{COLLECTION}/versions/999999").status_code == 404
    small = operator.post(f"/v1/collections/{COLLECTION}/versions", json={"chunk_tokens": 8})
    assert small.status_code == 422 and small.json()["error"]["field"] == "chunk_tokens"
    typo = operator.post(f"/v1/collections/{COLLECTION}/versions", json={"chunk_size": 64})
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "chunk_size"


def test_a_server_that_starts_resumes_a_stopped_backfill(
    operator: httpx.Client, settings: Settings, local_embedder: Any
) -> None:
    from pgseek.api import create_app

    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(
            [_document(s) for s in ("seals", "gulls", "ferry")],
            collection="resumed",
            tenant="acme",
        )
        stopped = seek.models.add("resumed", chunk_tokens=32, chunk_overlap=4)  # no backfill runs: as if killed
    assert stopped.backfill_stopped
    with (
        LiveServer(create_app(settings, embedder=local_embedder)) as restarted,
        httpx.Client(base_url=restarted.url, headers=OPERATOR, timeout=120) as client,
    ):
        done = _until_backfilled(client, "resumed", stopped.id)
    assert (done["documents_done"], done["documents_total"], done["index_ready"]) == (3, 3, True)


def _document(subject: str) -> Any:
    from pgseek.types import Document

    return Document(subject, _text(subject), title=subject.title())
