"""Defect 11: HTTP ingests grew ``pgseek serve`` by ~1 GB that it never gave back.

A real server process ingests fresh text over HTTP, round after round, and its resident memory is read from /proc.
The first round may grow the process (the model's working set, the thread pools); later rounds must not keep what
they used: ONNX Runtime's arena kept the peak of every shape (+1 GB), and glibc kept torch's activations (+0.6 GB).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from pgseek.config import Settings
from tests.integration.api.conftest import bearer
from tests.integration.api.test_serve import pgseek, serve

# Round 1 is a small ingest (the threads, the sessions and the model's first runs are in place after it); the
# rounds after it carry ~300 chunks each (two ingest groups of 64-chunk batches).
DOCUMENTS_PER_ROUND = [3, 60, 60, 60]
CHARS_PER_DOCUMENT = 4000  # about five 200-token chunks
# Growth over round 1, measured: before the fix +201 MiB (torch) and +967 MiB (ONNX); after it -5 and +34 MiB.
GROWTH_BOUND_MIB = 100

_VOCABULARY = sorted(
    {w.strip(".,;:()`*'\"").lower() for w in (Path(__file__).parents[2] / "README.md").read_text().split()} - {""}
)


def _documents(round_number: int, count: int) -> list[dict[str, str]]:
    """Fresh text every round (nothing is skipped as unchanged), with sentences, so chunks are full length."""
    rng = random.Random(round_number)
    docs = []
    for i in range(count):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < CHARS_PER_DOCUMENT:
            words += [*rng.choices(_VOCABULARY, k=rng.randint(8, 20)), "."]
        docs.append({"id": f"r{round_number}-{i}", "title": f"Round {round_number} note {i}", "text": " ".join(words)})
    return docs


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_ingest_rounds_do_not_keep_growing_the_server(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("PGSEEK_EMBED_BACKEND", backend)
    made = json.loads(pgseek(settings, "keys", "create", "--tenant", "memory", "--json").stdout)
    rss: list[float] = []
    for served in serve(settings, tmp_path):
        with httpx.Client(base_url=served.url, headers=bearer(made["key"]), timeout=600) as client:
            for number, count in enumerate(DOCUMENTS_PER_ROUND, 1):
                body = {"documents": _documents(number, count)}
                response = client.post(f"/v1/collections/memory_{backend}/documents", json=body)
                assert response.status_code == 200, response.text
                assert response.json()["documents_added"] == count
                rss.append(_rss_mib(served.process.pid))
    print(f"{backend}: RSS per round (MiB): {[round(r) for r in rss]}")
    growth = max(rss[1:]) - rss[0]
    assert growth <= GROWTH_BOUND_MIB, f"RSS per round (MiB): {[round(r) for r in rss]}"
