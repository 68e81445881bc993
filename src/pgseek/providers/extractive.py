"""The offline generator: answers with the passage of the context that best answers the question, then its support.

No language model writes anything: every sentence of the answer is a unit of a retrieved chunk, verbatim (less any
bracketed numbers of its own, which would read as citations), followed by its source's [n]. Units are sentences of
prose, list items, headings, table rows and lines of code (``sentences.unit_spans``).

1. **Key terms.** The question's content words, stemmed, less stop words and words of asking ("use", "set").
   Each is weighted by how rare it is in the context itself, ``1 + ln((N + 1) / (df + 1))`` over its N units: "Django"
   in a context about Node.js weighs more than "default", which half the units say.
2. **Candidates.** Units of four words or more, not headings. Only the ``max_candidates`` that cover most key-term
   weight (ties: the better-ranked source, then position) are embedded, each by its first ``unit_tokens`` word
   pieces, in one batch; the question's vector is the search's own (``Context.query_vector``). Embedding is what an
   answer costs, in proportion to texts times the longest text's word pieces (decision 0019).
3. **Scores.** ``(1 - w) * cosine(question, unit) + w * coverage``, coverage being the share of key-term weight the
   unit holds.
4. **Passages.** The best units are grown into passages within their chunk: a question (a FAQ's, ending in "?") gives
   way to what follows it; a unit ending in ":" takes the next; a neighbour that holds a key term the passage lacks
   joins it ("Activate inspector on host:port." then "Default is 127.0.0.1:9229." for a "default" question), and so
   does a short one that finishes it. Passages stay under ``passage_words`` words. A passage scores
   ``(1 - w) * its best unit's cosine + w * its coverage`` (a FAQ's answer: its question's cosine).
5. **Answer.** The best passage, quoted, then up to ``max_sentences - 1`` supporting passages within ``margin`` of it
   (near-repeats skipped), each cited; under ``answer_words`` words in all. When even the best passage scores under
   ``min_score`` the context does not answer the question: the generator writes ``NO_ANSWER``.

Deterministic: equal scores fall back to source and position order.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pgseek.providers.markers import strip_markers
from pgseek.providers.protocols import NO_ANSWER, Embedder
from pgseek.providers.tokens import TokenCounter
from pgseek.sentences import PARAGRAPH_BREAK, unit_spans
from pgseek.terms import content_words, key_terms, words
from pgseek.types import Context

__all__ = ["ExtractiveGenerator", "Passage", "ScoredSentence", "content_words", "preselect"]

_MIN_WORDS = 4
_SHORT_WORDS = 6
"""A neighbour this short finishes its passage ("Default is 127.0.0.1:9229.") rather than changing the subject."""
_REPEAT = 0.8
_FAQ_ANSWER_UNITS = 8
_LOOK_AHEAD = 3
_SHORT_SKIP = 12
_BULLET = re.compile(r"(?:[-*+•▪◦]|\d{1,3}[.)])\s")
_LABEL_WORDS = 12
_SECTION_NUMBER = re.compile(r"\d{1,3}(?:\.\d{1,3})*\.?\s")


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    marker: int
    start: int
    """Offset of the unit in its source's chunk."""
    text: str
    similarity: float
    overlap: float
    """Share of the question's key-term weight that the unit holds."""
    score: float


@dataclass(frozen=True, slots=True)
class _Unit:
    marker: int
    index: int
    """Position among its chunk's units."""
    start: int
    text: str
    terms: frozenset[str]
    section: frozenset[str] = frozenset()
    """Terms of the heading above the unit in its chunk ("### `--test-timeout`"): what the unit is about."""

    label: bool = False
    """A short line without closing punctuation that the next units describe: a definition list's term, an
    option's synopsis ("--leak-check=<no|summary|yes|full> [default: summary]")."""

    paragraph: int = 0
    """Paragraphs are counted within the chunk: a passage does not borrow from the paragraph before its anchor, and
    a list item's passage stays inside its paragraph."""

    listed: bool = False
    """The unit's paragraph is a list (it opens with a bullet)."""

    @property
    def covers(self) -> frozenset[str]:
        return self.terms | self.section

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Passage:
    """Consecutive units of one chunk, quoted together."""

    marker: int
    start: int
    texts: tuple[str, ...]
    similarity: float
    coverage: float
    score: float

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    @property
    def words(self) -> int:
        return len(self.text.split())


class ExtractiveGenerator:
    """The default generator: extracts, never invents; needs nothing but the embedding model."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        min_score: float = 0.35,
        margin: float = 0.15,
        keyword_weight: float = 0.4,
        max_candidates: int = 16,
        unit_tokens: int = 32,
        passage_words: int = 60,
        answer_words: int = 120,
    ) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
        if not 0.0 <= keyword_weight <= 1.0:
            raise ValueError(f"keyword_weight must be between 0 and 1, got {keyword_weight}")
        if max_candidates < 1 or unit_tokens < 1 or passage_words < 1 or answer_words < passage_words:
            raise ValueError(
                "max_candidates, unit_tokens and passage_words must be positive, answer_words >= passage_words"
            )
        self._embedder = embedder
        self.max_sentences = max_sentences
        self.min_score = min_score
        self.margin = margin
        self.keyword_weight = keyword_weight
        self.max_candidates = max_candidates
        self.unit_tokens = unit_tokens
        self.passage_words = passage_words
        self.answer_words = answer_words

    @property
    def model(self) -> str:
        return f"extractive ({self._embedder.info.name})"

    async def generate(self, question: str, context: Context, *, stream: bool = False) -> AsyncIterator[str]:
        picked = await asyncio.to_thread(self.select, question, context)
        if not picked:
            yield NO_ANSWER
            return
        answer, support = picked[0], picked[1:]
        pieces = [f"“{answer.text}” [{answer.marker}]"]
        pieces += [("\n\n" if i == 0 else " ") + f"{p.text} [{p.marker}]" for i, p in enumerate(support)]
        if not stream:
            yield "".join(pieces)
            return
        for piece in pieces:
            yield piece

    def score(self, question: str, context: Context) -> list[ScoredSentence]:
        """The candidate units of the context with their scores, best first."""
        units = _units(context)
        weights = _weights(question, units)
        candidates = self._preselect(units, weights)
        vectors = self._embed([u.text for u in candidates])
        scored = self._score_units(candidates, vectors, self._asked(question, context), weights)
        return [ScoredSentence(u.marker, u.start, u.text, sim, cov, s) for u, sim, cov, s in scored]

    def select(self, question: str, context: Context) -> list[Passage]:
        """The passages of the answer, the answer first; empty when the context does not answer the question."""
        units = _units(context)
        weights = _weights(question, units)
        candidates = self._preselect(units, weights)
        if not candidates:
            return []
        by_chunk: dict[int, list[_Unit]] = {}
        for unit in units:
            by_chunk.setdefault(unit.marker, []).append(unit)
        vectors = self._embed([u.text for u in candidates])
        scored = self._score_units(candidates, vectors, self._asked(question, context), weights)
        unit_similarity = {(u.marker, u.index): sim for u, sim, _, _ in scored}
        grown: dict[tuple[int, ...], tuple[_Unit, float, list[_Unit]]] = {}
        for anchor, similarity, _, _ in scored[: self.max_sentences * 4]:
            run = self._grow(anchor, by_chunk[anchor.marker], weights)
            key = (anchor.marker, *(u.index for u in run))
            if run and key not in grown:
                grown[key] = (anchor, similarity, run)
        w = self.keyword_weight
        passages: list[Passage] = []
        for anchor, similarity, grown_units in grown.values():
            best_unit = max(unit_similarity.get((u.marker, u.index), 0.0) for u in grown_units)
            # A passage is as close to the question as its closest unit; what its neighbours add counts through its
            # coverage. A FAQ's answer keeps its question's similarity: the question is what matches.
            sim = similarity if _is_question(anchor) else best_unit
            coverage = _coverage(frozenset().union(*(u.covers for u in (anchor, *grown_units))), weights)
            texts_ = tuple(u.text for u in grown_units)
            passages.append(
                Passage(
                    grown_units[0].marker, grown_units[0].start, texts_, sim, coverage, (1 - w) * sim + w * coverage
                )
            )
        passages.sort(key=lambda p: (-p.score, p.words, p.marker, p.start))
        if not passages or passages[0].score < self.min_score:
            return []
        floor = passages[0].score - self.margin
        picked: list[Passage] = []
        used = 0
        for passage in passages:
            if passage.score < floor or len(picked) == self.max_sentences:
                break
            if used + passage.words > self.answer_words and picked:
                continue
            if not any(_overlaps(passage, p) for p in picked):
                picked.append(passage)
                used += passage.words
        return picked

    def _asked(self, question: str, context: Context) -> NDArray[np.float32]:
        """The question's vector: the search's own when it is in this model's space, else embedded here."""
        given = context.query_vector
        if given is not None and given.model == self._embedder.info.key:
            return given.vector
        embedded: NDArray[np.float32] = self._embedder.embed([question], purpose="query")[0]
        return embedded

    def _embed(self, texts: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """Each distinct text's vector, from its head, in one call (overlapping chunks repeat text). A batch costs
        its texts times its longest text's word pieces: a sentence's first ``unit_tokens`` say what it is about,
        and on SciFact scored as well as the whole sentence (decision 0019)."""
        distinct = list(dict.fromkeys(texts))
        if not distinct:
            return {}
        heads = [_head(text, self._embedder.counter, self.unit_tokens) for text in distinct]
        return dict(zip(distinct, self._embedder.embed(heads, purpose="document"), strict=True))

    def _preselect(self, units: Sequence[_Unit], weights: Mapping[str, float]) -> list[_Unit]:
        return _preselect(units, weights, self.max_candidates)

    def _score_units(
        self,
        candidates: Sequence[_Unit],
        vectors: Mapping[str, NDArray[np.float32]],
        asked: NDArray[np.float32],
        weights: Mapping[str, float],
    ) -> list[tuple[_Unit, float, float, float]]:
        """Candidate units with (similarity, coverage, score), best first."""
        w = self.keyword_weight
        scored = []
        for unit in candidates:
            coverage = _coverage(unit.covers, weights)
            sim = _cosine(vectors[unit.text], asked)
            scored.append((unit, sim, coverage, (1 - w) * sim + w * coverage))
        scored.sort(key=lambda s: (-s[3], s[0].marker, s[0].start))
        return scored

    def _grow(self, anchor: _Unit, chunk: Sequence[_Unit], weights: Mapping[str, float]) -> list[_Unit]:
        """The passage around ``anchor``: see the module's docstring, step 4."""
        index = anchor.index
        if _is_question(anchor):
            # A FAQ's question: its answer is what follows it.
            answer: list[_Unit] = []
            for unit in chunk[index + 1 : index + 1 + _FAQ_ANSWER_UNITS]:
                if _is_question(unit) or unit.text.startswith("#") or _SECTION_NUMBER.match(unit.text):
                    break  # the next question, or a table of contents rather than an answer
                if answer and sum(u.words for u in answer) + unit.words > self.passage_words:
                    break
                answer.append(unit)
            return answer
        passage = [anchor]
        covered = set(anchor.terms)
        size = anchor.words
        # One unit back when it is the label the anchor describes ("--num-callers=<number> [default: 12]") or names
        # a key term the anchor lacks ("Activate inspector on host:port." before "Default is 127.0.0.1:9229.").
        if index > 0:
            before = chunk[index - 1]
            # A bullet is a point of its own: it does not borrow from the item before it.
            borrows = _adds(before, covered, weights) and not _is_question(before) and not _BULLET.match(anchor.text)
            wanted = before.label or (borrows and before.paragraph == anchor.paragraph)
            if wanted and not before.text.startswith("#") and size + before.words <= self.passage_words:
                passage.insert(0, before)
                covered |= before.terms
                size += before.words
        # Forward: what completes the passage, looking past up to two short units that do not ("If unspecified,
        # subtests inherit this value from their parent. The default value is `Infinity`.").
        position = index + 1
        while position < len(chunk):
            last = passage[-1].text.rstrip()
            listing = any(u.text.rstrip().endswith(":") for u in passage)
            item = passage[-1].listed
            ahead = chunk[position : position + _LOOK_AHEAD]
            take = 0
            for i, unit in enumerate(ahead):
                if i > 0 and ahead[i - 1].words > _SHORT_SKIP:
                    break  # only a short aside is skipped: a passage does not swallow a long sentence to reach one
                if _is_question(unit) or unit.text.startswith("#") or (_BULLET.match(unit.text) and not listing):
                    break  # the next question, section or list item (unless the passage introduced the list)
                if unit.paragraph != passage[-1].paragraph and item and not last.endswith(":"):
                    break  # a list item ends with its paragraph
                if (i == 0 and (last.endswith(":") or unit.words < _SHORT_WORDS)) or _adds(unit, covered, weights):
                    take = i + 1
                    break
            added = ahead[:take]
            if not added or size + sum(u.words for u in added) > self.passage_words:
                break
            for unit in added:
                passage.append(unit)
                covered |= unit.terms
                size += unit.words
            position += take
        return passage


def _units(context: Context) -> list[_Unit]:
    units = []
    for source in context.sources:
        section: frozenset[str] = frozenset()
        spans = unit_spans(source.chunk)
        paragraph, previous_end, listed = 0, 0, False
        for index, (start, end) in enumerate(spans):
            text = strip_markers(source.chunk[start:end])
            terms = content_words(text)
            label = _is_label(text) and index + 1 < len(spans)
            if index == 0 or PARAGRAPH_BREAK.search(source.chunk, previous_end, start):
                paragraph += 1
                listed = bool(_BULLET.match(text))
            previous_end = end
            units.append(_Unit(source.marker, index, start, text, terms, section, label, paragraph, listed))
            if text.startswith("#") or label:
                section = terms
    return units


def preselect(question: str, context: Context, limit: int) -> list[tuple[int, str]]:
    """The units of the context worth embedding for ``question``, as (marker, text), in context order: see
    ``_preselect``."""
    units = _units(context)
    return [(u.marker, u.text) for u in _preselect(units, _weights(question, units), limit)]


def _preselect(units: Sequence[_Unit], weights: Mapping[str, float], limit: int) -> list[_Unit]:
    """Those of ``units`` that can answer (``_is_candidate``), and when there are more than ``limit``, the ``limit``
    holding the most key-term weight, the better-ranked source (then the earlier unit) first on a tie; in context
    order. Sources come in rank order, so a unit's place in the context is its rank."""
    candidates = [u for u in units if _is_candidate(u.text)]
    if len(candidates) <= limit:
        return candidates
    ranked = sorted(enumerate(candidates), key=lambda iu: (-_coverage(iu[1].covers, weights), iu[0]))
    return [u for _, u in sorted(ranked[:limit])]


def _weights(question: str, units: Sequence[_Unit]) -> dict[str, float]:
    """Each key term of the question, weighted by its rarity among the context's units."""
    terms = key_terms(question) or {t: t for t in content_words(question)}
    n = len(units)
    weights = {}
    for term in terms:
        df = sum(term in u.covers for u in units)
        weights[term] = 1.0 + math.log((n + 1) / (df + 1))
    return weights


def _head(text: str, counter: TokenCounter, tokens: int) -> str:
    """``text`` cut after its first ``tokens`` word pieces."""
    spans = counter.token_spans(text)
    return text if len(spans) <= tokens else text[: spans[tokens - 1][1]]


def _cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(np.dot(a, b))


def _coverage(terms: frozenset[str], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0


def _adds(unit: _Unit, covered: set[str], weights: Mapping[str, float]) -> bool:
    return any(t in unit.terms and t not in covered for t in weights)


def _is_label(text: str) -> bool:
    """Short and unpunctuated, not a heading or a bullet (an option's synopsis may start with "--")."""
    if text.startswith("#") or (text[:1] in "*+-" and not text.startswith("--")):
        return False
    if text.endswith("::"):
        return True  # an AsciiDoc definition list's term ("--squash::")
    # Sentences end in punctuation, code lines in ";", "{" or "}".
    return not text.rstrip().endswith((".", "!", "?", ":", ";", ",", "{", "}")) and len(text.split()) <= _LABEL_WORDS


def _is_question(unit: _Unit) -> bool:
    return unit.text.rstrip().endswith("?")


def _is_candidate(text: str) -> bool:
    """Headings and fragments answer nothing."""
    return not text.startswith("#") and len(words(text)) >= _MIN_WORDS


def _overlaps(a: Passage, b: Passage) -> bool:
    """Two passages share a unit, or one nearly repeats the other."""
    if a.marker == b.marker and set(a.texts) & set(b.texts):
        return True
    words_a, words_b = set(words(a.text)), set(words(b.text))
    smaller = min(len(words_a), len(words_b))
    return smaller > 0 and len(words_a & words_b) / smaller >= _REPEAT
