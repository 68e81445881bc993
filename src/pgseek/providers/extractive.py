"""The offline generator: answers with the context's own sentences that best answer the question, each cited.

No language model writes anything: every sentence of the answer is a sentence of a retrieved chunk, verbatim (less any
bracketed numbers of its own, which would read as citations), followed by its source's [n]. A sentence scores
``(1 - w) * cosine(question, sentence) + w * keyword overlap`` with the same embedding model that search uses
(w = ``keyword_weight``); keyword overlap is the share of the question's content words (lower-cased, lightly stemmed,
stop words left out) that the sentence contains. The best sentences within ``margin`` of the top one are kept, at most
``max_sentences``, best first, skipping near-repeats. When even the best scores under ``min_score`` the context does
not answer the question: the generator writes ``NO_ANSWER``. Deterministic: equal scores fall back to source and
position order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from pgseek.providers.markers import strip_markers
from pgseek.providers.protocols import NO_ANSWER, Embedder
from pgseek.sentences import sentence_spans
from pgseek.types import Context

__all__ = ["ExtractiveGenerator", "ScoredSentence", "content_words"]

_WORD = re.compile(r"[^\W_]+")
_MIN_WORDS = 4
_REPEAT = 0.8
# Function words carry no evidence of an answer; matching them would reward any sentence of the right length.
_STOP_WORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    marker: int
    start: int
    """Offset of the sentence in its source's chunk."""
    text: str
    similarity: float
    overlap: float
    score: float


def content_words(text: str) -> frozenset[str]:
    """Lower-cased, lightly stemmed words of ``text`` that are not stop words."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS and len(w) > 1)


def _stem(word: str) -> str:
    """Plural, -ing/-ed and final -e off, so that increase, increases, increased and increasing meet."""
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


class ExtractiveGenerator:
    """The default generator: extracts, never invents; needs nothing but the embedding model."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        min_score: float = 0.35,
        margin: float = 0.15,
        keyword_weight: float = 0.3,
    ) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
        if not 0.0 <= keyword_weight <= 1.0:
            raise ValueError(f"keyword_weight must be between 0 and 1, got {keyword_weight}")
        self._embedder = embedder
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.margin = margin
        self.keyword_weight = keyword_weight

    @property
    def model(self) -> str:
        return f"extractive ({self._embedder.info.name})"

    async def generate(self, question: str, context: Context, *, stream: bool = False) -> AsyncIterator[str]:
        picked = await asyncio.to_thread(self.select, question, context)
        if not picked:
            yield NO_ANSWER
            return
        pieces = [f"{s.text} [{s.marker}]" for s in picked]
        if not stream:
            yield " ".join(pieces)
            return
        for i, piece in enumerate(pieces):
            yield piece if i == 0 else " " + piece

    def score(self, question: str, context: Context) -> list[ScoredSentence]:
        """Every candidate sentence of the context with its score, best first."""
        candidates = [
            (source.marker, start, strip_markers(source.chunk[start:end]))
            for source in context.sources
            for start, end in sentence_spans(source.chunk)
        ]
        candidates = [c for c in candidates if _is_candidate(c[2])]
        if not candidates:
            return []
        vectors = self._embedder.embed([question], purpose="query")
        sentence_vectors = self._embedder.embed([text for _, _, text in candidates], purpose="document")
        similarities = np.asarray(sentence_vectors @ vectors[0], dtype=np.float64)
        asked = content_words(question)
        w = self.keyword_weight
        scored = []
        for (marker, start, text), similarity in zip(candidates, similarities.tolist(), strict=True):
            overlap = len(asked & content_words(text)) / len(asked) if asked else 0.0
            scored.append(ScoredSentence(marker, start, text, similarity, overlap, (1 - w) * similarity + w * overlap))
        scored.sort(key=lambda s: (-s.score, s.marker, s.start))
        return scored

    def select(self, question: str, context: Context) -> list[ScoredSentence]:
        """The sentences of the answer, in answer order; empty when the context does not answer the question."""
        scored = self.score(question, context)
        if not scored or scored[0].score < self.min_score:
            return []
        floor = max(self.min_score, scored[0].score - self.margin)
        picked: list[ScoredSentence] = []
        for sentence in scored:
            if sentence.score < floor or len(picked) == self.max_sentences:
                break
            if not any(_repeats(sentence.text, p.text) for p in picked):
                picked.append(sentence)
        return picked


def _is_candidate(sentence: str) -> bool:
    """Headings and fragments answer nothing."""
    return not sentence.startswith("#") and len(_WORD.findall(sentence)) >= _MIN_WORDS


def _repeats(a: str, b: str) -> bool:
    words_a, words_b = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    smaller = min(len(words_a), len(words_b))
    return smaller > 0 and len(words_a & words_b) / smaller >= _REPEAT
