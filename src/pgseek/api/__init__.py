"""pgseek's HTTP service: ``create_app(settings)`` builds the FastAPI app; ``pgseek serve`` runs it with uvicorn."""

from pgseek.api.app import create_app

__all__ = ["create_app"]
