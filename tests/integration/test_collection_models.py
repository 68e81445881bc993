"""Each collection is searched with the model it was embedded with, whatever the settings say now, and any embedder
(local, OpenAI-compatible, a plugin) reaches the facade through the registry: real PostgreSQL, the real model, a real
embeddings server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pgseek import Document, Seek, Settings
from pgseek.errors import ConfigurationError
from pgseek.providers.local import LocalEmbedder
from pgseek.types import ModelInfo
from tests.conftest import DelegatingEmbedder
from tests.embeddings_server import EmbeddingsServer
from tests.plugin import install

DOCS = [
    Document("volcano", "A volcano erupts when magma from the mantle rises through the crust and escapes as lava."),
    Document("bread", "To bake bread, mix flour, water, salt and yeast, knead the dough and bake it in a hot oven."),
    Document("tides", "Tides are caused by the gravitational pull of the Moon and the Sun on the oceans of the Earth."),
    Document("espresso", "Espresso is brewed by forcing hot water under pressure through finely ground coffee."),
]
QUERIES = {
    "what makes molten rock come out of a mountain": "volcano",
    "why does the sea rise and fall twice a day": "tides",
    "how do I make a loaf at home": "bread",
}


def remote(settings: Settings, server: EmbeddingsServer, **more: object) -> Settings:
    return settings.model_copy(
        update={"embed_provider": "openai", "embed_base_url": server.url, "model": "minilm-remote", **more}
    )


def test_an_openai_compatible_model_ingests_and_searches_like_the_local_one(
    settings: Settings, embeddings_server: EmbeddingsServer
) -> None:
    with Seek(remote(settings, embeddings_server)) as seek:
        seek.ingest_documents(DOCS, collection="remote")
        remote_top = {q: seek.search(q, k=1, collection="remote").hits[0].document_id for q in QUERIES}
        info = seek.embedder("remote").info
    with Seek(settings) as seek:  # the default: the local model, through the same registry
        seek.ingest_documents(DOCS, collection="local")
        local_top = {q: seek.search(q, k=1, collection="local").hits[0].document_id for q in QUERIES}
        assert seek.embedder("local").info.provider == "sentence-transformers"
    assert remote_top == local_top == QUERIES
    assert (info.provider, info.name, info.dimensions, info.version) == ("openai", "minilm-remote", 384, "unpinned")
    embedded = [text for inputs in embeddings_server.inputs() for text in inputs]
    assert all(doc.text in embedded for doc in DOCS) and all(q in embedded for q in QUERIES)


def test_a_collection_keeps_its_model_whatever_the_settings_say(
    settings: Settings, embeddings_server: EmbeddingsServer
) -> None:
    with Seek(remote(settings, embeddings_server)) as seek:
        seek.ingest_documents(DOCS, collection="kept")
    before = len(embeddings_server.requests)
    # Settings that name the local model now: the collection is still embedded with the remote one.
    local_now = settings.model_copy(update={"embed_base_url": embeddings_server.url})
    with Seek(local_now) as seek:
        hit = seek.search("why does the sea rise and fall twice a day", k=1, collection="kept").hits[0]
        assert seek.embedder("kept").info.provider == "openai"
    assert hit.document_id == "tides"
    assert embeddings_server.inputs()[before:] == [["why does the sea rise and fall twice a day"]]


def test_a_plugin_embedder_serves_a_collection(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path)))
    with Seek(settings.model_copy(update={"embed_provider": "toy-hash", "model": "bag-of-words"})) as seek:
        seek.ingest_documents(DOCS, collection="toy")
        hit = seek.search("espresso coffee water", k=1, collection="toy").hits[0]
        info = seek.embedder("toy").info
    assert hit.document_id == "espresso" and (info.provider, info.dimensions) == ("toy-hash", 64)


def test_a_stored_model_whose_embedder_is_gone_is_a_clear_error(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(install(tmp_path / "a")))
        with Seek(settings.model_copy(update={"embed_provider": "toy-hash", "model": "bag-of-words"})) as seek:
            seek.ingest_documents(DOCS[:1], collection="orphan")
    # The plugin is uninstalled (its folder is off sys.path); the collection still names it.
    with Seek(settings) as seek, pytest.raises(ConfigurationError, match="no embedder named 'toy-hash'"):
        seek.search("lava", collection="orphan")


class HalfPrecision(DelegatingEmbedder):
    """The real model, asking for float16 storage."""

    @property
    def info(self) -> ModelInfo:
        return replace(self.inner.info, precision="float16")


def test_an_embedder_reporting_float16_is_stored_as_halfvec(settings: Settings, local_embedder: LocalEmbedder) -> None:
    with Seek(settings, embedder=HalfPrecision(local_embedder)) as seek:
        seek.ingest_documents(DOCS, collection="half")
        top = {q: seek.search(q, k=1, collection="half").hits[0].document_id for q in QUERIES}
        info = seek.embedder("half").info
        listed = [c for c in seek.collections() if c.name == "half"]
    assert top == QUERIES and info.precision == "float16"
    assert [(c.model, c.documents) for c in listed] == [(local_embedder.info.name, len(DOCS))]
