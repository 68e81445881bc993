"""Whether the context can answer at all: the question's rare key terms must be in it.

A near-domain question ("How do I pool connections in Django?" asked of the Node.js documentation) retrieves chunks
that look relevant (connections, pools, configuration) and score well, yet none of them names what the question is
about. The terms that name it are the rare ones: words the embedding model's own vocabulary does not hold whole, so
that its tokenizer cuts them into two or more word pieces ("dj ##ango", "post ##gre ##s ##q ##l", "ng ##in ##x"),
where common words ("connection", "default", "timeout") are one piece. The vocabulary stands in for word frequencies
in general text, which pgseek does not have.

The context fails the question when at least half of the question's rare key terms (and at least one) appear in none
of its sources, their titles included, nor anywhere else in the collection: the collection check (``ask`` passes it)
keeps a question whose rare words the retrieved chunks lack while other documents hold them (SciFact's claims,
whose terms their abstracts often word otherwise, were refused one time in five without it), and refuses the one
whose subject the documents never name. Terms compare stemmed; a rare word of four letters or more also counts as
present when it is part of a longer word of the context ("tmpdir" in "os.tmpdir()").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pgseek.providers.tokens import TokenCounter
from pgseek.terms import key_terms, stems
from pgseek.types import Context

__all__ = ["MISSING_SHARE", "Coverage", "coverage", "missing_terms"]

MISSING_SHARE = 0.5
"""Refuse when this share of the question's rare key terms is missing from the context."""
_RARE_PIECES = 2
_SUBSTRING_MIN = 4


@dataclass(frozen=True, slots=True)
class Coverage:
    rare: int
    """How many rare key terms the question has."""
    missing: tuple[str, ...]
    """Those of them missing (as written, lower-cased)."""

    def refuses(self) -> bool:
        """Whether the missing terms are enough to refuse the question."""
        return bool(self.missing) and len(self.missing) >= MISSING_SHARE * self.rare

    def without(self, held: Collection[str]) -> Coverage:
        """The same question's coverage once ``held`` words are known to be present after all."""
        return Coverage(self.rare, tuple(word for word in self.missing if word not in held))


def coverage(question: str, context: Context, counter: TokenCounter) -> Coverage:
    """The question's rare key terms, and which of them the context lacks."""
    rare = {stem: word for stem, word in key_terms(question).items() if len(counter.token_spans(word)) >= _RARE_PIECES}
    texts = [text for source in context.sources for text in (source.title or "", source.chunk)]
    present = stems(texts)
    haystack = "\n".join(texts).lower()
    missing = tuple(
        word
        for stem, word in rare.items()
        if stem not in present and not (len(word) >= _SUBSTRING_MIN and word in haystack)
    )
    return Coverage(len(rare), missing)


def missing_terms(question: str, context: Context, counter: TokenCounter) -> list[str]:
    """The question's rare key terms that the context lacks, when they are enough to refuse; else empty."""
    found = coverage(question, context, counter)
    return list(found.missing) if found.refuses() else []
