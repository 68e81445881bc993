"""The context an answer is written from: search hits in rank order, near-duplicates dropped, packed within a token
budget, numbered [1], [2], ... Pure: tokens are counted by the given ``TokenCounter`` (the embedding model's own).

Each source is rendered as a header line and its chunk::

    [1] Title of the document (source)
    The chunk's text ...

and the token budget is spent on exactly that rendering, which is what an LLM generator sends. Bracketed numbers
that the documents carry themselves (reference markers such as "[12]") are left out of the rendering, so that they
cannot pass for citations of the context's sources; ``Citation.chunk`` keeps the exact text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from pgseek.providers.prompt import render_source
from pgseek.providers.tokens import TokenCounter
from pgseek.types import Citation, Context, Hit

__all__ = ["DUPLICATE_THRESHOLD", "build_context"]

DUPLICATE_THRESHOLD = 0.8
"""Two chunks are near-duplicates when this share of the shorter one's word trigrams is in the other."""

_WORD = re.compile(r"\w+")
_SHINGLE = 3


def build_context(
    hits: Sequence[Hit], counter: TokenCounter, budget: int, *, duplicate_threshold: float = DUPLICATE_THRESHOLD
) -> Context:
    """Number the hits that fit in ``budget`` word pieces, best first, skipping near-duplicates of a kept hit.

    A hit that does not fit in what is left of the budget is skipped and the next ones are tried, so a short
    lower-ranked chunk may still fill the end of the budget. When even the first hit alone exceeds the budget it is
    cut at a word-piece boundary rather than leaving the context empty.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1 word piece, got {budget}")
    sources: list[Citation] = []
    kept_shingles: list[frozenset[tuple[str, ...]]] = []
    used = duplicates = over = 0
    for hit in hits:
        shingles = _shingles(hit.chunk)
        if any(_near_duplicate(shingles, other, duplicate_threshold) for other in kept_shingles):
            duplicates += 1
            continue
        source = _citation(hit, len(sources) + 1, hit.chunk)
        tokens = len(counter.token_spans(render_source(source)))
        if used + tokens > budget:
            if sources:
                over += 1
                continue
            source, tokens = _cut_to_fit(hit, counter, budget)
        sources.append(replace(source, tokens=tokens))
        kept_shingles.append(shingles)
        used += tokens
    return Context(tuple(sources), tokens=used, budget=budget, duplicates_dropped=duplicates, over_budget=over)


def _citation(hit: Hit, marker: int, chunk: str) -> Citation:
    return Citation(
        marker=marker,
        document_id=hit.document_id,
        title=hit.title,
        source=hit.source,
        chunk=chunk,
        score=hit.score,
        chunk_id=hit.chunk_id,
        position=hit.position,
        start=hit.start,
        end=hit.start + len(chunk) if chunk != hit.chunk else hit.end,
        page=hit.page,
        page_end=hit.page_end,
    )


def _cut_to_fit(hit: Hit, counter: TokenCounter, budget: int) -> tuple[Citation, int]:
    """The first hit's chunk, cut so that its rendering fits the budget (its header counts too)."""
    header = len(counter.token_spans(render_source(_citation(hit, 1, ""))))
    spans = counter.token_spans(hit.chunk)
    keep = max(budget - header, 0)
    cut = hit.chunk[: spans[keep - 1][1]] if keep and spans else ""
    source = _citation(hit, 1, cut)
    return source, len(counter.token_spans(render_source(source)))


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) <= _SHINGLE:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))


def _near_duplicate(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]], threshold: float) -> bool:
    smaller = min(len(a), len(b))
    return smaller > 0 and len(a & b) / smaller >= threshold
