"""The embedders and the generator the settings (or a collection's stored model) name, each built through one path
whichever it is.

Embedders are found by provider name in the ``pgseek.embedders`` entry point group: an entry point names a factory,
``(spec, settings) -> Embedder``. pgseek's own two (``sentence-transformers``, ``openai``) are declared there in
pyproject.toml like any plugin's; the same declarations are also written below, so that a source checkout whose
installed metadata predates them (or lacks pgseek's distribution) still finds them, through the same loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from pgseek.config import Settings
from pgseek.errors import ConfigurationError
from pgseek.precision import storage_precision
from pgseek.providers.extractive import ExtractiveGenerator
from pgseek.providers.protocols import Embedder, Generator, close_embedder
from pgseek.providers.storage import stored_as
from pgseek.types import ModelInfo

__all__ = [
    "BUILT_IN_EMBEDDERS",
    "ENTRY_POINT_GROUP",
    "EmbedderFactory",
    "EmbedderSpec",
    "embedder_factories",
    "make_embedder",
    "make_generator",
]

ENTRY_POINT_GROUP = "pgseek.embedders"
BUILT_IN_EMBEDDERS = {
    "sentence-transformers": "pgseek.providers.local:from_spec",
    "openai": "pgseek.providers.openai_embed:from_spec",
}
"""Also in pyproject.toml's ``[project.entry-points."pgseek.embedders"]`` (tests/unit/test_embedders.py checks)."""


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """Which model to build. From the settings, for a new collection, only ``provider`` and ``name`` are certain;
    from a collection's stored identity, every field is, and the embedder built must report that identity."""

    provider: str
    name: str
    dimensions: int | None = None
    version: str | None = None
    max_tokens: int | None = None
    precision: str = "auto"
    """How the vectors are stored (``PGSEEK_EMBED_PRECISION``): float32, float16, or auto (float16 when the model is
    wider than float32's HNSW index allows); the registry applies it, the factory need not read it."""

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbedderSpec:
        return cls(
            settings.embed_provider,
            settings.model,
            dimensions=settings.embed_dimensions,
            version=settings.embed_version,
            max_tokens=settings.embed_max_tokens,
            precision=settings.embed_precision,
        )

    @classmethod
    def from_identity(cls, info: ModelInfo) -> EmbedderSpec:
        return cls(info.provider, info.name, info.dimensions, info.version, info.max_tokens, info.precision)


class EmbedderFactory(Protocol):
    def __call__(self, spec: EmbedderSpec, settings: Settings, /) -> Embedder: ...


def embedder_factories() -> dict[str, metadata.EntryPoint]:
    """Every registered embedder by provider name, not yet imported. Two distributions claiming one name is a
    configuration error, not a silent pick."""
    found = {name: metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in BUILT_IN_EMBEDDERS.items()}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        known = found.get(entry.name)
        if known is not None and known.value != entry.value:
            raise ConfigurationError(
                f"two embedders register the name {entry.name!r} ({known.value} and {entry.value}); uninstall one"
            )
        found[entry.name] = entry
    return found


def make_embedder(spec: EmbedderSpec, settings: Settings, *, stored: ModelInfo | None = None) -> Embedder:
    """The embedder ``spec`` names. With ``stored`` (the identity a collection was embedded with), one that reports
    another identity is refused: its vectors would not be comparable with the stored ones."""
    factories = embedder_factories()
    entry = factories.get(spec.provider)
    if entry is None:
        raise ConfigurationError(
            f"no embedder named {spec.provider!r} (PGSEEK_EMBED_PROVIDER, or a collection's stored model); "
            f"installed: {', '.join(sorted(factories))}. A plugin registers one in the {ENTRY_POINT_GROUP!r} entry "
            "point group"
        )
    try:
        factory: EmbedderFactory = entry.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"the embedder {spec.provider!r} ({entry.value}) cannot be loaded: {exc}") from exc
    built = factory(spec, settings)
    try:
        embedder = stored_as(built, storage_precision(built.info, spec.precision))
    except ConfigurationError:
        close_embedder(built)  # a remote model's client holds connections
        raise
    if stored is not None and embedder.info.key != stored.key:
        got, want = embedder.info, stored
        raise ConfigurationError(
            f"the embedder {spec.provider!r} now reports {_described(got)}, but the collection was embedded with "
            f"{_described(want)}; "
            "restore that model, or ingest into a new collection"
        )
    return embedder


def _described(info: ModelInfo) -> str:
    return f"{info.name} {info.version} ({info.dimensions} dimensions, {info.precision})"


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
