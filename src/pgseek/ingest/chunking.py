"""Token-aware chunking of document text into pieces the embedding model reads whole.

Pure: no I/O and no model loading. Token counts come from a :class:`TokenCounter`, so the same code serves the real
word-piece tokenizer and simple counters in tests.

Chunks follow the document's structure: markdown headings open sections (chunks never cross them), paragraphs are the
preferred cut points, then sentences, and only as a last resort token boundaries inside a sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from pgseek.providers.tokens import Span, TokenCounter
from pgseek.sentences import PARAGRAPH_BREAK, sentence_ranges, split_ranges, strip_range
from pgseek.types import Chunk

__all__ = ["ChunkingOptions", "chunk_text", "with_pages"]


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    max_tokens: int = 200
    """Target size of a chunk in word pieces."""
    overlap_tokens: int = 32
    """Tokens of trailing context repeated at the start of the next chunk of the same section."""
    hard_limit: int = 254
    """Never exceeded: what the model reads minus its special tokens."""

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be >= 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError(f"overlap_tokens must be in [0, max_tokens // 2), got {self.overlap_tokens}")
        if self.max_tokens > self.hard_limit:
            raise ValueError(f"hard_limit must be >= max_tokens, got {self.hard_limit} < {self.max_tokens}")


@dataclass(frozen=True, slots=True)
class _Section:
    start: int
    end: int
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Unit:
    """A stripped, indivisible-for-packing range of the document with its (estimated) token count."""

    start: int
    end: int
    tokens: int


# Fence and heading lines are matched together so one pass sees them in document order.
_STRUCTURE_LINE = re.compile(
    r"^(?:(?P<fence>[ ]{0,3}(?:`{3,}|~{3,}))|(?P<hashes>#{1,6})[ \t]+(?P<title>[^\n]*\S))", re.M
)
_CLOSING_HASHES = re.compile(r"[ \t]+#+$")


def chunk_text(text: str, counter: TokenCounter, options: ChunkingOptions = ChunkingOptions()) -> list[Chunk]:
    """Split `text` into chunks of at most ``options.max_tokens`` word pieces (never over ``hard_limit``).

    Every chunk satisfies ``text[chunk.start:chunk.end] == chunk.text``; positions run 0..n-1.
    """
    chunks: list[Chunk] = []
    for section in _sections(text):
        units = list(_units(text, section.start, section.end, counter, options.max_tokens))
        for start, end in _pack(units, options):
            for chunk_start, chunk_end, tokens in _emit(text, start, end, counter, options):
                chunks.append(
                    Chunk(
                        position=len(chunks),
                        text=text[chunk_start:chunk_end],
                        start=chunk_start,
                        end=chunk_end,
                        token_count=tokens,
                        heading_path=section.path,
                    )
                )
    return chunks


def with_pages(chunks: Sequence[Chunk], pages: Sequence[int]) -> list[Chunk]:
    """The chunks with the 1-based pages they start and end on, from the offsets where pages start (``pages``, in
    order); unchanged when there are none. An empty page starts where the next one does, so the later page wins."""
    if not pages:
        return list(chunks)
    return [
        replace(
            c, page=max(bisect_right(pages, c.start), 1), page_end=max(bisect_right(pages, max(c.end - 1, c.start)), 1)
        )
        for c in chunks
    ]


def _sections(text: str) -> Iterator[_Section]:
    """Ranges between heading lines, each with the heading path in force (the heading line opens its section)."""
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    start = 0
    fence: str | None = None
    for match in _STRUCTURE_LINE.finditer(text):
        marker = match.group("fence")
        if marker is not None:
            marker = marker.lstrip(" ")
            # A fence closes only with the same character, at least as long as the opener.
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is not None:
            continue
        if match.start() > start:
            yield _Section(start, match.start(), path)
        level = len(match.group("hashes"))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, _heading_title(match.group("title"))))
        path = tuple(title for _, title in stack)
        start = match.start()
    if len(text) > start:
        yield _Section(start, len(text), path)


def _heading_title(raw: str) -> str:
    title = _CLOSING_HASHES.sub("", raw).strip()
    return title or raw.strip()


def _units(text: str, start: int, end: int, counter: TokenCounter, max_tokens: int) -> Iterator[_Unit]:
    """Paragraphs of a section, or for oversized paragraphs their sentences, or token windows of oversized sentences.

    Each paragraph is tokenized once; sentence and window counts come from the paragraph's spans, which is exact for
    word-piece tokenizers because sentence breaks sit on whitespace.
    """
    for para_start, para_end in split_ranges(text, start, end, PARAGRAPH_BREAK):
        spans = [(a + para_start, b + para_start) for a, b in counter.token_spans(text[para_start:para_end])]
        if len(spans) <= max_tokens:
            yield _Unit(para_start, para_end, len(spans))
            continue
        span_starts = [a for a, _ in spans]
        for sent_start, sent_end in sentence_ranges(text, para_start, para_end):
            lo = bisect_left(span_starts, sent_start)
            hi = bisect_left(span_starts, sent_end, lo)
            if hi - lo <= max_tokens:
                yield _Unit(sent_start, sent_end, hi - lo)
            else:
                yield from _windows(spans[lo:hi], sent_start, sent_end, max_tokens)


def _windows(spans: Sequence[Span], start: int, end: int, size: int) -> Iterator[_Unit]:
    """Consecutive runs of at most `size` token spans; the first and last stretch to the sentence's own bounds."""
    for i in range(0, len(spans), size):
        window = spans[i : i + size]
        window_start = start if i == 0 else window[0][0]
        window_end = end if i + size >= len(spans) else window[-1][1]
        yield _Unit(window_start, window_end, len(window))


def _pack(units: Sequence[_Unit], options: ChunkingOptions) -> Iterator[tuple[int, int]]:
    """Greedy packing of a section's units into ranges of at most max_tokens, repeating whole trailing units."""
    current: list[_Unit] = []
    total = 0
    for unit in units:
        if current and total + unit.tokens > options.max_tokens:
            yield current[0].start, current[-1].end
            current = _overlap_tail(current, options.overlap_tokens)
            total = sum(u.tokens for u in current)
            # Overlap is context, not content: give it up before giving up the size limit.
            while current and total + unit.tokens > options.max_tokens:
                total -= current.pop(0).tokens
        current.append(unit)
        total += unit.tokens
    if current:
        yield current[0].start, current[-1].end


def _overlap_tail(units: list[_Unit], budget: int) -> list[_Unit]:
    taken = 0
    index = len(units)
    while index > 0 and taken + units[index - 1].tokens <= budget:
        index -= 1
        taken += units[index].tokens
    return units[index:]


def _emit(
    text: str, start: int, end: int, counter: TokenCounter, options: ChunkingOptions
) -> Iterator[tuple[int, int, int]]:
    """Final (start, end, token_count) pieces of a packed range, re-split if its exact count is over hard_limit.

    Unit counts are estimates for tokenizers that are not whitespace-additive; the final count is what the model sees.
    Recursion ends because a range over hard_limit (>= max_tokens) always splits into at least two smaller windows.
    """
    spans = counter.token_spans(text[start:end])
    if len(spans) <= options.hard_limit:
        yield start, end, len(spans)
        return
    absolute = [(a + start, b + start) for a, b in spans]
    for window in _windows(absolute, start, end, options.max_tokens):
        stripped = strip_range(text, window.start, window.end)
        if stripped is not None:
            yield from _emit(text, stripped[0], stripped[1], counter, options)
