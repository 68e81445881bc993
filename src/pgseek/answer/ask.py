"""From search hits to an answer: gate on relevance, build the context, generate, check the citations, time it.

The search itself is the caller's (the facade runs it); this module turns its result into events: the answer's text
as deltas, then one final ``Answer``. Refusal happens at three points, and always reads ``REFUSAL``, cites nothing:

1. no hit at all ("no_hits");
2. the best cosine similarity between the question and a retrieved chunk is under the threshold ("low_score"): the
   vector leg's score, read back as a cosine whatever the collection's distance (vectors are unit length). Keyword
   mode has no similarity to compare, so this gate needs vector or hybrid mode;
3. at least half of the question's rare key terms appear nowhere in the context, nor, when ``collection_words`` is
   given, anywhere in the collection ("missing_terms"; see ``coverage``): the documents are about something else,
   however close they score;
4. the generator writes ``NO_ANSWER`` ("not_in_context").

While streaming, text that could still become ``NO_ANSWER`` is held back, so a refusal never shows the sentinel.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from pgseek.answer.context import build_context
from pgseek.answer.coverage import coverage
from pgseek.providers.markers import parse_markers
from pgseek.providers.protocols import NO_ANSWER, Generator
from pgseek.providers.tokens import TokenCounter
from pgseek.types import Answer, AnswerDelta, AnswerEvent, Context, RefusalReason, SearchResult, Timings

__all__ = ["REFUSAL", "AskPolicy", "answer_events", "best_similarity"]

REFUSAL = "The documents do not answer this question."


@dataclass(frozen=True, slots=True)
class AskPolicy:
    context_tokens: int
    """Token budget of the context, in the embedding model's word pieces."""
    refusal_threshold: float
    """Refuse when the best retrieved chunk's cosine similarity to the question is under this."""


def best_similarity(result: SearchResult) -> float | None:
    """The best vector-leg score among the hits, as a cosine similarity; None when no hit has one."""
    scores = [hit.legs["vector"].score for hit in result.hits if "vector" in hit.legs]
    if not scores:
        return None
    best = max(scores)
    if result.distance == "l2":
        # The l2 leg scores -distance; for unit vectors |a - b|^2 = 2 - 2 cos.
        return 1.0 - best * best / 2.0
    return best  # cosine: 1 - cosine distance; ip: the inner product, a cosine for unit vectors


async def answer_events(
    question: str,
    result: SearchResult,
    *,
    counter: TokenCounter,
    generator: Generator,
    policy: AskPolicy,
    stream: bool,
    started: float,
    collection_words: Callable[[Sequence[str]], Awaitable[set[str]]] | None = None,
) -> AsyncGenerator[AnswerEvent, None]:
    """Deltas of the answer's text, then the ``Answer``. ``started`` is the ``perf_counter`` the request began at."""
    t = result.timings_ms
    begun = time.perf_counter()

    def finish(text: str, context: Context | None, reason: RefusalReason | None) -> Answer:
        done = time.perf_counter()
        timings = Timings(
            embed=t.embed,
            search=t.search,
            fuse=t.fuse,
            generate=(done - begun) * 1000,
            total=(done - started) * 1000,
            load=t.load,
        )
        if reason is not None or context is None:
            return Answer(question, REFUSAL, (), True, timings, generator.model, refusal_reason=reason)
        parsed = parse_markers(text.strip(), len(context.sources))
        citations = tuple(s for s in (context.source(m) for m in parsed.cited) if s is not None)
        return Answer(question, parsed.text, citations, False, timings, generator.model, parsed.dropped)

    similarity = best_similarity(result)
    if not result.hits or (similarity is not None and similarity < policy.refusal_threshold):
        yield AnswerDelta(REFUSAL)
        yield finish("", None, "no_hits" if not result.hits else "low_score")
        return

    # The search's query vector rides along: the extractive generator compares units with it instead of embedding the
    # question a second time.
    context = replace(build_context(result.hits, counter, policy.context_tokens), query_vector=result.query_vector)
    gaps = coverage(question, context, counter)
    if gaps.refuses() and collection_words is not None:
        gaps = gaps.without(await collection_words(gaps.missing))
    if gaps.refuses():
        yield AnswerDelta(REFUSAL)
        yield finish("", None, "missing_terms")
        return
    pieces: list[str] = []
    holding = True
    generated = generator.generate(question, context, stream=stream)
    try:
        async for piece in generated:
            pieces.append(piece)
            if holding:
                so_far = "".join(pieces).lstrip()
                if _could_be_no_answer(so_far):
                    continue
                holding = False
                piece = so_far
            if piece:
                yield AnswerDelta(piece)
    finally:
        # A reader that stops early ends the generation (and its HTTP request) now.
        aclose = getattr(generated, "aclose", None)
        if aclose is not None:
            await aclose()
    text = "".join(pieces)
    if _is_no_answer(text):
        yield AnswerDelta(REFUSAL)
        yield finish(text, context, "not_in_context")
        return
    if holding and text.strip():
        yield AnswerDelta(text.lstrip())  # a prefix of NO_ANSWER that stayed one
    yield finish(text, context, None)


def _could_be_no_answer(text: str) -> bool:
    stripped = text.rstrip()
    return NO_ANSWER.startswith(stripped) or _is_no_answer(stripped)


def _is_no_answer(text: str) -> bool:
    return text.strip().rstrip(".").strip() in ("", NO_ANSWER)
