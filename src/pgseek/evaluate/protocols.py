"""What evaluation needs of the facade, as a Protocol: ``AsyncSeek`` satisfies it without evaluate/ importing it
(seek.py imports evaluate/, so the reverse import would be a cycle)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pgseek.config import Settings
from pgseek.ingest.pipeline import ProgressCallback
from pgseek.providers.protocols import Generator
from pgseek.search.engine import SearchOptions
from pgseek.types import Answer, IngestReport, SearchResult


class Retriever(Protocol):
    """Ingest and search: what retrieval evaluation runs."""

    @property
    def settings(self) -> Settings: ...

    async def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport: ...

    async def search(
        self,
        query: str,
        options: SearchOptions | None = None,
        *,
        k: int | None = None,
        mode: str | None = None,
        collection: str | None = None,
        tenant: str | None = None,
    ) -> SearchResult: ...


class Answerer(Protocol):
    """Ask with the configured generator: what answer evaluation runs."""

    async def generator(self) -> Generator: ...

    async def ask(
        self,
        question: str,
        *,
        k: int = 8,
        mode: str = "hybrid",
        collection: str | None = None,
        tenant: str | None = None,
    ) -> Answer: ...


class SuiteRunner(Retriever, Answerer, Protocol):
    """Ingest a suite's corpus and ask its questions: what an answer suite runs."""
