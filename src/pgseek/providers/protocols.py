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
    """Turns texts into vectors of ``info.dimensions`` floats, one row per text (unit length when
    ``info.normalized``).

    One method does the work (``embed``); the rest is what pgseek needs to know about the model: its identity, under
    which its vectors are stored and by which the registry rebuilds it (``info``), and how it counts tokens, so that
    chunks never exceed what it reads (``counter``, ``max_tokens``). New embedders register through the
    ``pgseek.embedders`` entry point group (providers/registry.py, docs/embedders.md).
    """

    @property
    def info(self) -> ModelInfo: ...

    @property
    def counter(self) -> TokenCounter:
        """Counts tokens as chunking and query checks do; ``max_tokens`` is in its units."""
        ...

    @property
    def max_tokens(self) -> int:
        """Tokens (as ``counter`` counts them) one input may hold, the model's special tokens and any safety margin
        for a tokenizer pgseek only estimates already set aside."""
        ...

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        """``purpose`` is "document" for ingestion batches or "query" for one search query. Called from a worker
        thread, never the event loop; failures raise EmbeddingError."""
        ...


TokenizingEmbedder = Embedder
"""The name this contract had when counting tokens was an optional extra; kept for callers that use it."""


def close_embedder(embedder: Embedder) -> None:
    """Release what an embedder holds (a remote model's connections); ``close`` is optional in the contract."""
    close = getattr(embedder, "close", None)
    if close is not None:
        close()


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
