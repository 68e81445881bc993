"""A two-tenant attack on every endpoint: tenant B, with its own key, tries to reach tenant A's data or learn its
volume. Nothing B receives may contain A's secrets or ids, or change when A grows from ten chunks to thousands."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from pgseek import Document
from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.seek import AsyncSeek
from tests.conftest import NearbyVectors

pytestmark = pytest.mark.slow

VICTIM, ATTACKER = "tenant-victim-q9", "tenant-attacker-k2"
# The victim's distinctive strings. The attacker sends some of them itself (as queries, filters, ids): a response
# counts as a leak when it holds one that its own request did not.
SECRETS = ("ZEBRA-ORCHID-7731", "MANTA-QUILL-4402", "Victim confidential", VICTIM, "victim-vault")
VICTIM_ID = re.compile(r"victim-secret-doc-\d+")
OPERATOR_KEY = "operator-key-of-the-attack-suite-0123456789"
LARGE = 5000
# Fields whose values are clocks or fresh ids, not data: left out of the comparison between the two probes.
_VOLATILE = {"timings_ms", "seconds", "model_seconds", "created_at", "updated_at"}


def _victim_docs(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"victim-secret-doc-{i}",
            "title": f"Victim confidential {i}",
            "text": f"Harbour ledger {i}: the vault code is ZEBRA-ORCHID-7731, the key MANTA-QUILL-4402; tide tables.",
            "metadata": {"owner": "victim", "code": "ZEBRA-ORCHID-7731", "key": "MANTA-QUILL-4402", "n": i},
        }
        for i in range(start, start + count)
    ]


@pytest.fixture(scope="module")
def attack_settings(database_url: str, pgseek_home: Any) -> Settings:
    # A low exact-scan bound, so that the victim's growth crosses it: a plan that followed it would show.
    return Settings(
        home=pgseek_home, database_url=database_url, operator_key=SecretStr(OPERATOR_KEY), exact_search_below=500
    )


@pytest.fixture(scope="module")
async def app(attack_settings: Settings, local_embedder: Any) -> AsyncIterator[FastAPI]:
    application = create_app(attack_settings, embedder=local_embedder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pgseek.test") as c:
        yield c


async def _key(app: FastAPI, tenant: str) -> dict[str, str]:
    seek: AsyncSeek = app.state.seek
    return {"Authorization": f"Bearer {(await seek.create_api_key(tenant)).key}"}


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [_normalise(json.loads(line[6:])) for line in response.text.splitlines() if line.startswith("data: ")]
    try:
        return _normalise(response.json())
    except ValueError:
        return response.text


class Probe:
    """Every request the attacker makes, with what it got back (raw, for the secrets; normalised, to compare)."""

    def __init__(self, client: httpx.AsyncClient, key: dict[str, str]) -> None:
        self.client, self.key = client, key
        self.seen: list[tuple[str, int, Any]] = []
        self.raw: list[tuple[str, str]] = []
        """(request, response) as text: method, URL and body; headers and body."""

    async def __call__(self, method: str, url: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**(self.key if auth else {}), **kwargs.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        label = f"{method} {url} {json.dumps(kwargs.get('json'), sort_keys=True)[:160]}"
        assert response.status_code < 500, (label, response.text)
        self.seen.append((label, response.status_code, _body(response)))
        sent = f"{method} {url} {json.dumps(kwargs.get('json'))} {kwargs.get('content')!r} {kwargs.get('files')!r}"
        self.raw.append((sent, f"{response.headers}\n{response.text}"))
        return response

    def leaks(self) -> list[tuple[str, str]]:
        """(secret, request) for each victim string or id in a response that its request did not hold itself."""
        found = []
        for sent, received in self.raw:
            for secret in SECRETS:
                if secret.lower() in received.lower() and secret.lower() not in sent.lower():
                    found.append((secret, sent[:120]))
            found += [(i, sent[:120]) for i in set(VICTIM_ID.findall(received)) - set(VICTIM_ID.findall(sent))]
        return found


SEARCH_FILTERS: list[dict[str, Any] | None] = [
    None,
    {"document_ids": ["victim-secret-doc-1", "victim-secret-doc-2"]},
    {"metadata": [{"key": "owner", "op": "eq", "value": "victim"}]},
    {"metadata": [{"key": "code", "op": "in", "value": ["ZEBRA-ORCHID-7731"]}]},
    {"metadata": [{"key": "n", "op": "gte", "value": 0}]},
    {"contains": {"owner": "victim"}},
]
QUERIES = ("vault code ZEBRA-ORCHID-7731 harbour ledger", "attacker garden notes about tomatoes")


async def _attack(probe: Probe) -> None:
    await probe("GET", "/v1/whoami")
    await probe("GET", "/v1/collections")
    for name in ("shared", "victim-vault", "nowhere"):
        await probe("GET", f"/v1/collections/{name}")
    for mode in ("vector", "keyword", "hybrid"):
        for query in QUERIES:
            for filters in SEARCH_FILTERS:
                for collection in ("shared", "victim-vault"):
                    body = {"query": query, "mode": mode, "k": 50, "collection": collection, "filters": filters}
                    await probe("POST", "/v1/search", json={k: v for k, v in body.items() if v is not None})
    for filters in SEARCH_FILTERS[:3]:
        for accept in ("application/json", "text/event-stream"):
            question: dict[str, Any] = {
                "question": "What is the vault code in the harbour ledger?",
                "collection": "shared",
            }
            if filters is not None:
                question["filters"] = filters
            await probe("POST", "/v1/ask", json=question, headers={"Accept": accept})
    for collection, doc in (("shared", "victim-secret-doc-1"), ("victim-vault", "victim-secret-doc-0")):
        for method in ("GET", "DELETE"):
            await probe(method, f"/v1/collections/{collection}/documents/{doc}")
    await probe("GET", "/v1/collections/shared/documents/same-id")
    await probe("GET", "/v1/collections/shared/documents/..%2Fvictim-secret-doc-1")
    # Writing under the victim's ids and collection names creates the attacker's own documents, then removes them.
    own = {"documents": [{"id": "victim-secret-doc-3", "text": "The attacker's document under a borrowed id."}]}
    await probe("POST", "/v1/collections/shared/documents", json=own)
    await probe("GET", "/v1/collections/shared/documents/victim-secret-doc-3")
    await probe("DELETE", "/v1/collections/shared/documents/victim-secret-doc-3")
    upload = [("files", ("victim-secret-doc-4", b"attacker upload", "text/plain"))]
    await probe("POST", "/v1/collections/shared/files", files=upload)
    await probe("DELETE", "/v1/collections/shared/documents/victim-secret-doc-4")
    await probe("POST", "/v1/collections", json={"name": "victim-vault"})
    await probe("POST", "/v1/search", json={"query": QUERIES[0], "mode": "hybrid", "collection": "victim-vault"})
    await probe("DELETE", "/v1/collections/victim-vault?confirm=victim-vault")
    # Operator and health endpoints, and error paths.
    await probe("GET", "/metrics")
    await probe("GET", "/metrics", auth=False)
    await probe("GET", "/readyz", auth=False)
    await probe("GET", "/healthz", auth=False)
    await probe("POST", "/v1/search", json={"query": QUERIES[0], "tenant": VICTIM})
    await probe("POST", "/v1/search", json={"query": QUERIES[0], "filters": {"metadata": [{"key": "a'b", "op": "x"}]}})
    await probe("POST", "/v1/search", json={"query": QUERIES[0], "k": 0})
    await probe("POST", "/v1/search", content=b"{not json", headers={"Content-Type": "application/json"})
    await probe("POST", "/v1/collections/shared/documents", json={"documents": [{"id": "x", "text": ""}]})
    await probe("GET", "/v1/collections", auth=False)


async def test_the_attacker_learns_nothing_of_the_victim(
    app: FastAPI, client: httpx.AsyncClient, attack_settings: Settings, local_embedder: Any
) -> None:
    victim, attacker = await _key(app, VICTIM), await _key(app, ATTACKER)
    for collection, docs in (("shared", _victim_docs(0, 10)), ("victim-vault", _victim_docs(100, 3))):
        docs.append({"id": "same-id", "text": "The victim's version of same-id: ZEBRA-ORCHID-7731."})
        response = await client.post(
            f"/v1/collections/{collection}/documents", json={"documents": docs}, headers=victim
        )
        assert response.status_code == 200 and response.json()["documents_failed"] == 0
    garden = [
        {"id": f"garden-{i}", "text": f"Attacker garden notes {i}: tomatoes and beans.", "metadata": {"n": i}}
        for i in range(12)
    ] + [{"id": "same-id", "text": "The attacker's version of same-id."}]
    response = await client.post("/v1/collections/shared/documents", json={"documents": garden}, headers=attacker)
    assert response.json()["documents_added"] == 13

    # Once to warm the attacker's own caches: both probes below then meet them alike, so a cache state that moved
    # with the victim's writes (a hit turned miss) would show as a changed response.
    await _attack(Probe(client, attacker))
    small = Probe(client, attacker)
    await _attack(small)
    async with AsyncSeek(attack_settings, embedder=NearbyVectors(local_embedder)) as bulk:
        grown = [
            Document(d["id"], d["text"], title=d["title"], metadata=d["metadata"]) for d in _victim_docs(10, LARGE)
        ]
        report = await bulk.ingest_documents(grown, tenant=VICTIM, collection="shared")
        assert report.documents_added == LARGE
    assert (await client.get("/v1/collections/shared", headers=victim)).json()["chunks"] >= LARGE
    large = Probe(client, attacker)
    await _attack(large)

    leaks = small.leaks() + large.leaks()
    changed = [(a[0], a[2], b[2]) for a, b in zip(small.seen, large.seen, strict=True) if a[1:] != b[1:]]
    endpoints = sorted(
        {
            label.split(" ")[0] + " " + re.sub(r"/documents/.*", "/documents/{id}", label.split(" ")[1])
            for label, _, _ in small.seen
        }
    )
    print(
        f"\ntenant attack: {len(small.seen)} requests per probe over {len(endpoints)} endpoints, "
        f"victim grown from 13 to {LARGE + 13} documents between probes; "
        f"responses with a victim secret: {len(leaks)}; responses that changed with the victim's volume: {len(changed)}"
    )
    assert leaks == [], leaks[:5]
    assert changed == [], changed[:3]
