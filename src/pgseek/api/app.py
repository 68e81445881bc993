"""``create_app(settings)``: the FastAPI application over one ``AsyncSeek`` (its pool, its model)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from pgseek import __version__
from pgseek.api import errors
from pgseek.api.backfills import Backfills
from pgseek.api.middleware import BodyLimit, RequestObserver
from pgseek.api.observability import Metrics
from pgseek.api.routes import ask, collections, documents, health, jobs, operations, search, versions, web
from pgseek.config import Settings
from pgseek.providers.protocols import TokenizingEmbedder
from pgseek.seek import AsyncSeek

log = logging.getLogger("pgseek.api")

DESCRIPTION = """Retrieval on PostgreSQL + pgvector, as a service.

Every `/v1` request carries `Authorization: Bearer <key>`; the key (made by `pgseek keys create --tenant T`) decides
the tenant, and PostgreSQL row-level security keeps each tenant to its own documents. Errors have one shape:
`{"error": {"code", "message", "field"}}`."""


def create_app(settings: Settings | None = None, *, embedder: TokenizingEmbedder | None = None) -> FastAPI:
    """The HTTP service over its own ``AsyncSeek`` (``app.state.seek``). Startup opens the database, applies
    migrations and loads the embedding model (or takes ``embedder``, already loaded); shutdown closes the pool."""
    settings = settings or Settings()
    core = AsyncSeek(settings, embedder=embedder)
    backfills = Backfills(core)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Supervised: a database outage fails requests fast (503) and ends as soon as the database answers again;
        # an embedded server this process owns is restarted (pgseek.db.supervisor).
        await core.supervise()
        # Loaded before the first request: /readyz reports it, and no request pays the seconds it takes.
        model = (await core.embedder()).info
        log.info("ready", extra={"fields": {"model": model.name, "dimensions": model.dimensions}})
        # A candidate whose backfill stopped (this server restarted, a backfill process was killed) carries on here;
        # looked for in the background, so that startup does not wait on counting every version's documents.
        resuming = asyncio.create_task(backfills.resume_stopped(), name="resume-backfills")
        watching = asyncio.create_task(core.watch_recall(), name="recall-watch")  # /metrics' live recall
        # A one-box setup: this process also works the queue (its jobs go back to the queue at shutdown).
        working = (
            asyncio.create_task(core.jobs.work(concurrency=settings.queue_workers), name="queue-worker")
            if settings.queue_workers
            else None
        )
        try:
            yield
        finally:
            watching.cancel()
            resuming.cancel()
            if working is not None:
                working.cancel()
                await asyncio.gather(working, return_exceptions=True)
            await backfills.close()
            await core.close()

    app = FastAPIOffline(
        title="pgseek",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redoc_url=None,
        static_url="/docs/assets",
        favicon_url="/static/favicon.svg",
    )
    app.state.seek = core
    app.state.backfills = backfills
    app.state.metrics = metrics = Metrics()
    errors.install(app)
    for module in (health, collections, documents, jobs, versions, search, ask, operations, web):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(packages=[("pgseek.api", "static")]), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestObserver, metrics=metrics)  # added last: outermost, sees every response
    return app
