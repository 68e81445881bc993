"""What pgseek needs from its models: an embedder (one method, plus the identity its vectors are stored under) and
a generator that writes answers from a context (one method)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from pgseek.providers.tokens import TokenCounter
from pgseek.types import Context, ModelInfo


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


NO_ANSWER = "NO_ANSWER"
"""What a generator writes, alone, when the context does not answer the question."""


@runtime_checkable
class Generator(Protocol):
    """Writes the answer to a question from a context, citing its sources as [n] markers."""

    @property
    def model(self) -> str:
        """The model's name, as answers report it."""
        ...

    def generate(self, question: str, context: Context, *, stream: bool = False) -> AsyncIterator[str]:
        """The answer's text in pieces, in order (one piece when ``stream`` is false).

        Only ``context`` may be used; every sentence cites its source as [n], n being ``Citation.marker``. When the
        context does not answer the question, the text is exactly ``NO_ANSWER``. Failures raise GenerationError.
        """
        ...
