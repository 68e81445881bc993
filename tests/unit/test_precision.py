"""Storage precision: auto picks float16 only for models too wide for float32's HNSW index, explicit choices are
kept, widths no index takes are refused with what to do; the registry applies the choice to any embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pgseek.config import Settings
from pgseek.errors import ConfigurationError
from pgseek.precision import storage_precision
from pgseek.providers.registry import EmbedderSpec, make_embedder
from pgseek.types import ModelInfo
from tests.plugin import install


def model(dimensions: int, precision: str = "float32") -> ModelInfo:
    return ModelInfo("p", "m", dimensions, "1", precision=precision)


@pytest.mark.parametrize(
    ("dimensions", "setting", "own", "expected"),
    [
        (384, "auto", "float32", "float32"),
        (2000, "auto", "float32", "float32"),
        (2001, "auto", "float32", "float16"),
        (3072, "auto", "float32", "float16"),
        (4000, "auto", "float32", "float16"),
        (384, "auto", "float16", "float16"),  # a model that asks for float16 itself keeps it
        (384, "float16", "float32", "float16"),
        (384, "float32", "float16", "float32"),
        (3072, "float16", "float32", "float16"),
    ],
)
def test_the_precision_chosen(dimensions: int, setting: str, own: str, expected: str) -> None:
    assert storage_precision(model(dimensions, own), setting) == expected


def test_widths_no_index_takes_are_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match=r"^m: 4,001 dimensions exceed the 4,000 .*PGSEEK_EMBED_DIMENSIONS"):
        storage_precision(model(4001), "auto")
    with pytest.raises(ConfigurationError, match=r"^m: 3,072 dimensions exceed the 2,000 .*PGSEEK_EMBED_PRECISION"):
        storage_precision(model(3072), "float32")
    with pytest.raises(ConfigurationError, match=r"precision 'float8' is not one of float32, float16"):
        storage_precision(model(384), "float8")


def test_the_registry_stores_any_embedder_at_the_chosen_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path)))
    plain = make_embedder(EmbedderSpec("toy-hash", "bag-of-words"), Settings())
    half = make_embedder(EmbedderSpec("toy-hash", "bag-of-words", precision="float16"), Settings())
    assert plain.info.precision == "float32" and half.info.precision == "float16"
    assert half.info == ModelInfo("toy-hash", "bag-of-words", 64, "1", max_tokens=128, precision="float16")
    assert (half.max_tokens, half.counter.token_spans("a b")) == (plain.max_tokens, plain.counter.token_spans("a b"))
    assert np.array_equal(half.embed(["the tower"]), plain.embed(["the tower"]))  # float32 out; the database rounds
    # A collection stored as float16 is rebuilt as float16, whatever the settings say now.
    rebuilt = make_embedder(
        EmbedderSpec.from_identity(half.info), Settings(embed_precision="float32"), stored=half.info
    )
    assert rebuilt.info == half.info
    stored32 = plain.info
    with pytest.raises(ConfigurationError, match=r"now reports .*float16.* embedded with .*float32"):
        make_embedder(EmbedderSpec("toy-hash", "bag-of-words", precision="float16"), Settings(), stored=stored32)
