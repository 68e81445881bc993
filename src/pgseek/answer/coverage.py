"""Whether the context can answer at all: the question's rare key terms must be in it.

A near-domain question ("How do I pool connections in Django?" asked of the Node.js documentation) retrieves chunks
that look relevant (connections, pools, configuration) and score well, yet none of them names what the question is
about. The terms that name it are the rare ones: words the embedding model's own vocabulary does not hold whole, so
that its tokenizer cuts them into two or more word pieces ("dj ##ango", "post ##gre ##s ##q ##l", "ng ##in ##x"),
where common words ("connection", "default", "timeout") are one piece. The vocabulary stands in for word frequencies
in general text, which pgseek does not have.

The context fails the question when at least half of the question's rare key terms (and at least one) appear in none
of its sources, their titles included. Terms compare stemmed; a rare word of four letters or more also counts as
present when it is part of a longer word of the context ("tmpdir" in "os.tmpdir()").
"""

from __future__ import annotations

from pgseek.providers.tokens import TokenCounter
from pgseek.terms import key_terms, stems
from pgseek.types import Context

__all__ = ["MISSING_SHARE", "missing_terms"]

MISSING_SHARE = 0.5
"""Refuse when this share of the question's rare key terms is missing from the context."""
_RARE_PIECES = 2
_SUBSTRING_MIN = 4


def missing_terms(question: str, context: Context, counter: TokenCounter) -> list[str]:
    """The question's rare key terms that the context lacks, when they are enough to refuse; else empty."""
    rare = {stem: word for stem, word in key_terms(question).items() if len(counter.token_spans(word)) >= _RARE_PIECES}
    if not rare:
        return []
    texts = [text for source in context.sources for text in (source.title or "", source.chunk)]
    present = stems(texts)
    haystack = "\n".join(texts).lower()
    missing = [
        word
        for stem, word in rare.items()
        if stem not in present and not (len(word) >= _SUBSTRING_MIN and word in haystack)
    ]
    return missing if len(missing) >= MISSING_SHARE * len(rare) else []
