"""Paragraphs and sentences of a text as (start, end) character ranges: pure, shared by chunking and by the
extractive answer writer, so that both cut text the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["PARAGRAPH_BREAK", "Span", "sentence_ranges", "sentence_spans", "split_ranges", "strip_range"]

Span = tuple[int, int]

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at terminal punctuation (plus closing quotes/brackets) when whitespace and something that looks like
# a sentence start follow; CJK full stops need no whitespace. Lowercase after a period ("e.g. this") is not a break.
_SENTENCE_END = re.compile(r"[.!?][\"'’”)\]]*(?=\s+[\"'“‘(\[]?[0-9A-ZÀ-ÖØ-ÞΑ-ΩА-Я])|[。！？][」』”’)）]*")
_NON_SPACE = re.compile(r"\S")


def strip_range(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink [start, end) to exclude surrounding whitespace; None when nothing else is left."""
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return None
    last = end
    while text[last - 1].isspace():
        last -= 1
    return first.start(), last


def split_ranges(text: str, start: int, end: int, separator: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """Stripped, non-empty ranges of text[start:end] between matches of `separator`."""
    cuts = ((match.start(), match.end()) for match in separator.finditer(text, start, end))
    return _pieces(text, start, end, cuts)


def sentence_ranges(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Stripped, non-empty sentences of text[start:end], each keeping its terminal punctuation."""
    cuts = ((match.end(), match.end()) for match in _SENTENCE_END.finditer(text, start, end))
    return _pieces(text, start, end, cuts)


def _pieces(text: str, start: int, end: int, cuts: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The stripped, non-empty pieces of text[start:end] around ``cuts``: (where a piece ends, where the next
    begins)."""
    piece_start = start
    for piece_end, next_start in cuts:
        stripped = strip_range(text, piece_start, piece_end)
        if stripped is not None:
            yield stripped
        piece_start = next_start
    stripped = strip_range(text, piece_start, end)
    if stripped is not None:
        yield stripped


def sentence_spans(text: str) -> list[Span]:
    """Stripped (start, end) ranges of the sentences of `text`, paragraph by paragraph, with chunking's own rules."""
    return [
        sentence
        for para_start, para_end in split_ranges(text, 0, len(text), PARAGRAPH_BREAK)
        for sentence in sentence_ranges(text, para_start, para_end)
    ]
