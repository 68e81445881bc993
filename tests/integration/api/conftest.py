"""The HTTP service under test: the app over ASGI (httpx), or a real uvicorn server on a free local port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from tempfile import gettempdir
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pgseek.api import create_app
from pgseek.config import Settings
from pgseek.seek import AsyncSeek

OUTPUT = Path(__file__).resolve().parents[2] / "output"
OPERATOR_KEY = "operator-secret-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    """The session's settings, with an operator key for /metrics."""
    return Settings(home=pgseek_home, database_url=database_url, operator_key=SecretStr(OPERATOR_KEY))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
async def app(settings: Settings, local_embedder: Any) -> AsyncIterator[FastAPI]:
    """The app with its lifespan run: database open, migrations applied, model in place."""
    application = create_app(settings, embedder=local_embedder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
def facade(app: FastAPI) -> AsyncSeek:
    seek: AsyncSeek = app.state.seek
    return seek


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pgseek.test") as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


OPERATOR = bearer(OPERATOR_KEY)


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a thread of this process (its own event loop, real sockets)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def live_server(settings: Settings, local_embedder: Any) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings, embedder=local_embedder)) as server:
        yield server


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


def openapi_schema(max_examples: int) -> OpenApiSchema:
    """schemathesis over the app's own OpenAPI document: valid and invalid requests, ``max_examples`` per operation
    and mode. Building the app touches no database (its lifespan would); the requests go to a live server of the
    same app, so the document under test is the one that server serves at /openapi.json."""
    schema = schemathesis.openapi.from_dict(create_app(Settings(home=Path(gettempdir()) / "pgseek-openapi")).openapi())
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        deterministic=True,
        with_security_parameters=False,
        database="none",
    )
    return schema
