"""The generator the settings name, built through the same path whichever it is."""

from __future__ import annotations

from pgseek.config import Settings
from pgseek.providers.extractive import ExtractiveGenerator
from pgseek.providers.protocols import Embedder, Generator

__all__ = ["make_generator"]


def make_generator(settings: Settings, embedder: Embedder | None) -> Generator:
    """``PGSEEK_GENERATOR``: "extractive" (offline, the embedding model) or "openai" (a Chat Completions server).

    ``embedder`` may be None unless the extractive generator is asked for.
    """
    if settings.generator == "openai":
        from pgseek.providers.openai import OpenAIGenerator

        return OpenAIGenerator.from_settings(settings)
    if embedder is None:
        raise ValueError("the extractive generator needs the embedding model")
    return ExtractiveGenerator(
        embedder, max_sentences=settings.extractive_sentences, min_score=settings.extractive_min_score
    )
