"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per module, the real model."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import psycopg
import pytest
from numpy.typing import NDArray
from psycopg.conninfo import make_conninfo

from pgseek.config import Settings
from pgseek.db.server import EmbeddedServer
from pgseek.fingerprint import PROBES
from pgseek.providers import storage
from pgseek.providers.local import LocalEmbedder
from pgseek.seek import Seek
from tests.chat_server import ChatServer
from tests.embeddings_server import EmbeddingsServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def pgseek_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pgseek-home")


@pytest.fixture(scope="session")
def server_url(pgseek_home: Path) -> Iterator[str]:
    server = EmbeddedServer(pgseek_home, shared_buffers="256MB", maintenance_work_mem="512MB")
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="module")
def database_url(server_url: str, request: pytest.FixtureRequest) -> str:
    name = "t_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:50]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


class DelegatingEmbedder(storage.DelegatingEmbedder):
    """The real embedder behind a wrapper; subclasses change ``embed`` only."""

    def __init__(self, inner: LocalEmbedder) -> None:
        super().__init__(inner)


class CountingEmbedder(DelegatingEmbedder):
    """The real embedder, counting the texts it is asked to embed (to prove what re-ingestion skips)."""

    def __init__(self, inner: LocalEmbedder) -> None:
        super().__init__(inner)
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        self.texts_embedded += len(texts)
        return self.inner.embed(texts, purpose=purpose)


class NearbyVectors(DelegatingEmbedder):
    """The real model for the first text of a batch, small random offsets of its vector for the rest: volume for the
    database at a fraction of the model's cost, for tests about what the database does with many rows. The probe
    sentences of a version's fingerprint get the model's own vectors: noise there is another vector space, which the
    fingerprint check rightly refuses when the real model wrote to the version first."""

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        if tuple(texts) == PROBES:
            return self.inner.embed(texts, purpose=purpose)
        first = self.inner.embed(list(texts[:1]), purpose=purpose)
        noise = np.random.default_rng(len(texts)).normal(0, 0.05, (len(texts), first.shape[1])).astype(np.float32)
        vectors = first + noise
        unit: NDArray[np.float32] = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        return unit


@pytest.fixture(scope="session")
def local_embedder(pgseek_home: Path) -> LocalEmbedder:
    return LocalEmbedder(cache_dir=pgseek_home / "models")


@pytest.fixture()
def embedder(local_embedder: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(local_embedder)


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    return Settings(home=pgseek_home, database_url=database_url)


@pytest.fixture()
def seek(settings: Settings, embedder: CountingEmbedder) -> Iterator[Seek]:
    with Seek(settings, embedder=embedder) as s:
        yield s


@pytest.fixture()
def chat_server() -> Iterator[ChatServer]:
    """A Chat Completions server on 127.0.0.1, fresh for each test."""
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture()
def embeddings_server(local_embedder: LocalEmbedder) -> Iterator[EmbeddingsServer]:
    """An OpenAI-compatible embeddings server on 127.0.0.1 answering with the real model's vectors, fresh per test."""
    server = EmbeddingsServer(local_embedder.embed).start()
    yield server
    server.stop()
