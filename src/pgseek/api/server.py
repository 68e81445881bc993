"""Run the service with uvicorn: ``pgseek serve``."""

from __future__ import annotations

from fastapi import FastAPI

from pgseek.config import Settings


def app_from_env() -> FastAPI:
    """The app of one uvicorn worker process, configured from the environment (PGSEEK_*)."""
    from pgseek.api.app import create_app
    from pgseek.api.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def serve(*, host: str, port: int, workers: int) -> None:
    """Serve until interrupted. Each worker is a process with its own pool and model (and metrics)."""
    import uvicorn

    from pgseek.api.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "pgseek.api.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        log_level=settings.log_level,
    )
