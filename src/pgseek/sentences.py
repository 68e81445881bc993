"""Paragraphs and sentences of a text as (start, end) character ranges: pure, shared by chunking and by the
extractive answer writer, so that both cut text the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = [
    "PARAGRAPH_BREAK",
    "Span",
    "sentence_ranges",
    "sentence_spans",
    "split_ranges",
    "strip_range",
    "unit_spans",
]

Span = tuple[int, int]

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at terminal punctuation (plus closing quotes/brackets) when whitespace and something that looks like
# a sentence start follow: a capital or a digit (after opening quotes, brackets or Markdown emphasis), or inline code
# ("`path.sep` is ..."). CJK full stops need no whitespace. Lowercase after a period ("e.g. this") is not a break, nor
# is a period inside a token ("127.0.0.1", "v1.2.3"), nor one that ends "e.g." / "i.e." / "vs." / "cf.".
_SENTENCE_END = re.compile(
    r"(?<!\b[eEiI]\.[gGeE])(?<!\b[vV]s)(?<!\b[cC]f)"
    r"[.!?][\"'’”)\]*_]*(?=\s+(?:[\"'“‘(\[*_]*[0-9A-ZÀ-ÖØ-ÞΑ-ΩА-Я]|`))"
    r"|[。！？][」』”’)）]*"
)
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


# Lines that stand alone whatever punctuation they end with: list items, headings, table rows, fences.
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•▪◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])[ \t]+\S")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]")
_TABLE_ROW = re.compile(r"[ \t]*\|")
_FENCE = re.compile(r"[ \t]{0,3}(?:`{3,}|~{3,})")
_SECTION_NUMBER = re.compile(r"\(?\d{1,3}(?:\.\d{1,3})*[.)]?")
_LONG_SENTENCE_WORDS = 60
_CLAUSE_BREAK = re.compile(r"(?<=[;:])\s+|\s*\n\s*")


def unit_spans(text: str) -> list[Span]:
    """Stripped (start, end) ranges of the text's quotable units, in order: the sentences of its prose, but each
    list item, heading, table row and line of fenced code on its own (a bullet starts a unit; code is never cut
    inside a line), and a sentence of more than 60 words (PDF text that lost its punctuation) cut at semicolons,
    colons or line breaks. What the extractive answer writer quotes from."""
    spans: list[Span] = []
    block: int | None = None  # start of the prose block being gathered
    block_end = 0
    in_fence = in_comment = False

    def flush() -> None:
        nonlocal block
        if block is not None:
            held: Span | None = None  # a section number ("5.4.") waiting for its heading
            for start, end in sentence_ranges(text, block, block_end):
                if _SECTION_NUMBER.fullmatch(text, start, end):
                    held = (start if held is None else held[0], end)
                    continue
                spans.append((start if held is None else held[0], end))
                held = None
            if held is not None:
                spans.append(held)
        block = None

    position = 0
    for line in text.splitlines(keepends=True):
        start, end = position, position + len(line.rstrip("\r\n"))
        position += len(line)
        content = text[start:end]
        if in_comment or content.lstrip().startswith("<!--"):
            # Markdown's HTML comments (Node.js's "<!-- YAML ... -->" change logs) are not text to quote.
            flush()
            in_comment = "-->" not in content
            continue
        if _FENCE.match(content):
            flush()
            in_fence = not in_fence
            continue
        if not content.strip():
            flush()
            continue
        if in_fence or _HEADING.match(content) or _TABLE_ROW.match(content):
            flush()
            stripped = strip_range(text, start, end)
            if stripped is not None:
                spans.append(stripped)
            continue
        if _LIST_ITEM.match(content):
            flush()
        if block is None:
            block = start
        block_end = end
    flush()
    return [piece for span in spans for piece in _pieces_of(text, span)]


def _pieces_of(text: str, span: Span) -> Iterator[Span]:
    start, end = span
    if len(text[start:end].split()) <= _LONG_SENTENCE_WORDS:
        yield span
        return
    yield from split_ranges(text, start, end, _CLAUSE_BREAK)
