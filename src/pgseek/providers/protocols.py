"""What pgseek needs from an embedding model: one method, plus the identity its vectors are stored under."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from pgseek.ingest.chunking import TokenCounter
from pgseek.types import ModelInfo


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``info.dimensions`` floats, one row per text."""

    @property
    def info(self) -> ModelInfo: ...

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        """``purpose`` is "document" for ingestion batches or "query" for one search query."""
        ...


@runtime_checkable
class TokenizingEmbedder(Embedder, Protocol):
    """An embedder that exposes its tokenizer, so that chunks never exceed what the model reads."""

    @property
    def counter(self) -> TokenCounter: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, its special tokens excluded."""
        ...
