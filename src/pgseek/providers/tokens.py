"""Counting word pieces: the contract chunking, context packing and query checks count with, and its Hugging Face
``tokenizers`` implementation (every local model's own tokenizer)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["HFTokenCounter", "Span", "TokenCounter", "count_tokens"]

Span = tuple[int, int]


class TokenCounter(Protocol):
    def token_spans(self, text: str) -> list[Span]:
        """Character spans of each word piece of `text`, excluding special tokens ([CLS]/[SEP]), in order."""
        ...


class HFTokenCounter:
    """A :class:`TokenCounter` backed by a Hugging Face ``tokenizers.Tokenizer``."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        # The model's tokenizer.json truncates and pads to 128; counting must see every token, and the caller's
        # tokenizer must keep its settings, so work on a copy.
        copy = type(tokenizer).from_str(tokenizer.to_str())
        copy.no_truncation()
        copy.no_padding()
        self._tokenizer = copy
        # A tokenizers.Tokenizer fails ("Already borrowed") when two threads use it at once, and searches (event
        # loop) and ingestion (worker thread) both count tokens.
        self._lock = threading.Lock()

    def token_spans(self, text: str) -> list[Span]:
        with self._lock:
            return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)


def count_tokens(counter: TokenCounter, text: str) -> int:
    """Number of word pieces in `text`, special tokens excluded."""
    return len(counter.token_spans(text))
