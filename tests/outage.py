"""Helpers of the outage tests: a PostgreSQL of their own to kill, a corpus that takes several write groups."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from pgseek.db.server import EmbeddedServer

WORDS = [
    "river",
    "mountain",
    "glacier",
    "desert",
    "forest",
    "ocean",
    "island",
    "valley",
    "canyon",
    "volcano",
    "harbor",
    "meadow",
    "prairie",
    "tundra",
    "reef",
    "lighthouse",
    "bridge",
    "tunnel",
    "castle",
    "village",
    "market",
    "library",
    "museum",
    "garden",
    "orchard",
    "vineyard",
    "factory",
    "railway",
    "engine",
    "rocket",
    "satellite",
    "telescope",
    "microscope",
    "battery",
    "magnet",
    "crystal",
    "mineral",
    "fossil",
    "insect",
    "bird",
    "whale",
    "wolf",
    "falcon",
    "salmon",
    "coral",
    "fern",
    "moss",
    "oak",
    "maple",
    "cedar",
    "willow",
    "storm",
    "thunder",
    "drought",
    "flood",
    "frost",
    "harvest",
]


def corpus(count: int, *, seed: int = 7, words: int = 60) -> list[dict[str, str]]:
    """``count`` distinct short documents (one chunk each): id, title, text."""
    rng = random.Random(seed)
    return [
        {"id": f"doc-{i:05d}", "title": f"Note {i}", "text": " ".join(rng.choices(WORDS, k=words)) + f" item {i}."}
        for i in range(count)
    ]


def write_corpus(folder: Path, docs: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (folder / f"{doc['id']}.txt").write_text(doc["text"])
    return folder


@contextmanager
def own_server(home: Path) -> Iterator[EmbeddedServer]:
    """An embedded PostgreSQL that only this test uses (killing it hurts no other test)."""
    server = EmbeddedServer(home, shared_buffers="128MB", maintenance_work_mem="256MB")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def kill_postmaster(server: EmbeddedServer) -> int:
    """kill -9 the postmaster, as a crash or the OOM killer would; returns its pid."""
    pid = server.status().pid
    assert pid is not None, "the server is not running"
    os.kill(pid, signal.SIGKILL)
    while server.running():
        time.sleep(0.01)
    return pid


def count(url: str, statement: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(statement).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
