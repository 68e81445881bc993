"""The embedder registry: entry points find built-in and third-party embedders alike; names are checked; a stored
identity the rebuilt embedder does not match is refused."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np
import pytest

import pgseek
from pgseek.config import Settings
from pgseek.errors import ConfigurationError
from pgseek.providers.registry import (
    BUILT_IN_EMBEDDERS,
    ENTRY_POINT_GROUP,
    EmbedderSpec,
    embedder_factories,
    make_embedder,
)
from pgseek.providers.tokens import WordPieceEstimate, remote_budget
from pgseek.types import ModelInfo
from tests.plugin import install

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_ins_are_declared_as_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == BUILT_IN_EMBEDDERS
    assert set(embedder_factories()) >= {"sentence-transformers", "openai"}


def test_a_third_party_embedder_is_found_and_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path)))
    assert embedder_factories()["toy-hash"].value == "toy_embedder:from_spec"
    embedder = make_embedder(EmbedderSpec("toy-hash", "bag-of-words"), Settings())
    assert embedder.info == ModelInfo("toy-hash", "bag-of-words", 64, "1", max_tokens=128)
    vectors = embedder.embed(["the tower", "a tower", "coffee beans"])
    assert vectors.shape == (3, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_rebuilt_embedder_must_match_the_stored_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path)))
    stored = ModelInfo("toy-hash", "bag-of-words", 64, "0")  # embedded with an older release of the plugin
    with pytest.raises(ConfigurationError, match=r"now reports bag-of-words 1 .* embedded with bag-of-words 0"):
        make_embedder(EmbedderSpec.from_identity(stored), Settings(), stored=stored)


def test_two_distributions_cannot_claim_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path, distribution="impostor", provider="openai")))
    with pytest.raises(ConfigurationError, match="two embedders register the name 'openai'"):
        embedder_factories()


def test_an_unknown_provider_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no embedder named 'nope'.*installed: openai, sentence-transformers"):
        make_embedder(EmbedderSpec("nope", "x"), Settings())


def test_local_is_the_short_name_of_the_local_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSEEK_EMBED_PROVIDER", "local")
    assert Settings().embed_provider == "sentence-transformers"
    assert EmbedderSpec.from_settings(Settings()) == EmbedderSpec("sentence-transformers", Settings().model)


def test_remote_counts_split_unknown_pieces_and_keep_a_margin() -> None:
    counter = WordPieceEstimate.bundled()
    assert counter.token_spans("tower 😀😀") == [(0, 5), (6, 7), (7, 8)]  # one [UNK] word: a piece per character
    assert remote_budget(8191) == 4094 and remote_budget(512) == 255


def test_no_code_outside_providers_names_a_concrete_embedder() -> None:
    """The facade, CLI and API reach embedders through the registry only, so a plugin is never second-class."""
    concrete = {"pgseek.providers.local", "pgseek.providers.openai_embed", "LocalEmbedder", "OpenAIEmbedder"}
    package = Path(pgseek.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent.name == "providers":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: set[str] = set()
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module, *(f"{node.module}.{a.name}" for a in node.names), *(a.name for a in node.names)}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            elif isinstance(node, ast.Name | ast.Attribute):
                names = {node.id if isinstance(node, ast.Name) else node.attr}
            if names & concrete:
                offenders.append(f"{path.relative_to(package)}:{getattr(node, 'lineno', 0)}")
    assert offenders == []


def test_the_openai_api_without_a_key_is_refused_before_any_request() -> None:
    settings = Settings(embed_provider="openai", model="text-embedding-3-small")
    with pytest.raises(ConfigurationError, match="needs a key: set PGSEEK_EMBED_API_KEY"):
        make_embedder(EmbedderSpec.from_settings(settings), settings)
