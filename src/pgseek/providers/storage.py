"""An embedder whose vectors a collection stores at another precision than the model reports.

Storage precision is part of a model's identity (the same model stored as ``vector`` and as ``halfvec`` is two
tables), yet no embedder need know about it: the model still returns float32, and the database rounds to float16 on
the way in. So the registry, not each plugin, applies ``PGSEEK_EMBED_PRECISION`` (or a collection's stored choice) by
wrapping the embedder it built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from pgseek.providers.protocols import Embedder, close_embedder
from pgseek.providers.tokens import TokenCounter
from pgseek.types import ModelInfo

__all__ = ["DelegatingEmbedder", "StoredAs", "stored_as"]


class DelegatingEmbedder:
    """An embedder that passes everything to ``inner``; a subclass overrides what it changes."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    @property
    def counter(self) -> TokenCounter:
        return self.inner.counter

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        return self.inner.embed(texts, purpose=purpose)

    def close(self) -> None:
        close_embedder(self.inner)


class StoredAs(DelegatingEmbedder):
    """``inner`` in every respect but ``info.precision``."""

    def __init__(self, inner: Embedder, precision: str) -> None:
        super().__init__(inner)
        self._info = replace(inner.info, precision=precision)

    @property
    def info(self) -> ModelInfo:
        return self._info


def stored_as(embedder: Embedder, precision: str) -> Embedder:
    """``embedder`` reporting ``precision``; itself when it already does."""
    if embedder.info.precision == precision:
        return embedder
    inner = embedder.inner if isinstance(embedder, StoredAs) else embedder
    return StoredAs(inner, precision)
