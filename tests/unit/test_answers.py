"""Pure parts of answering: citation markers, the answer's JSON, relevance read back as a cosine, retry waits."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pgseek.answer.ask import best_similarity
from pgseek.providers.extractive import content_words, preselect
from pgseek.providers.http_retry import RetryPolicy, retry_after
from pgseek.providers.markers import parse_markers, remove_markers, strip_markers
from pgseek.types import Answer, AnswerDelta, Citation, Context, Hit, LegRank, SearchResult, Timings


@pytest.mark.parametrize(
    ("text", "sources", "cleaned", "cited", "dropped"),
    [
        ("Paris [1].", 2, "Paris [1].", (1,), ()),
        ("Paris [1][2], Rome [2].", 2, "Paris [1][2], Rome [2].", (1, 2), ()),
        ("Built in 1889 [7].", 2, "Built in 1889.", (), (7,)),
        ("A [1, 7] b [0] c [2; 3].", 3, "A [1] b c [2; 3].", (1, 2, 3), (7, 0)),
        ("Both [ 2 ,1 ].", 2, "Both [ 2 ,1 ].", (2, 1), ()),
        ("No markers here, only [brackets] and [1a].", 3, "No markers here, only [brackets] and [1a].", (), ()),
        ("Years [1999] are not sources.", 3, "Years are not sources.", (), (1999,)),
        ("Twice [9] and [9] again [1].", 1, "Twice and again [1].", (1,), (9,)),
    ],
)
def test_markers_are_checked_against_the_sources(
    text: str, sources: int, cleaned: str, cited: tuple[int, ...], dropped: tuple[int, ...]
) -> None:
    parsed = parse_markers(text, sources)
    assert (parsed.text, parsed.cited, parsed.dropped) == (cleaned, cited, dropped)


def test_strip_and_remove_markers() -> None:
    assert strip_markers("Oil the chain. [1]  Wipe it [2, 3].") == "Oil the chain. Wipe it."
    assert remove_markers("One [1].\n\nTwo [2; 3]  three.") == "One.\n\nTwo  three."


def test_answer_json_is_exactly_the_cli_shape() -> None:
    citation = Citation(2, "doc", None, "/kb/doc.md", "chunk text", 0.0163934426, 7, 0, 5, 15, 12)
    answer = Answer(
        "q?",
        "Text [2].",
        (citation,),
        False,
        Timings(embed=1.23456, search=2.0, fuse=0.5, generate=3.0, total=7.0),
        "m",
        dropped_markers=(4,),
    )
    body = json.loads(json.dumps(answer.to_json()))
    assert body == {
        "answer": "Text [2].",
        "citations": [
            {
                "marker": 2,
                "document_id": "doc",
                "title": None,
                "source": "/kb/doc.md",
                "chunk": "chunk text",
                "score": 0.016393,
                "page": None,
                "page_end": None,
            }
        ],
        "refused": False,
        "timings_ms": {"embed": 1.235, "search": 2.5, "generate": 3.0, "total": 7.0, "load": 0.0},
        "model": "m",
    }
    assert AnswerDelta("x").to_json() == {"text": "x"}
    assert (Answer.event, AnswerDelta.event) == ("answer", "delta")


def _result(distance: str, vector_scores: list[float | None]) -> SearchResult:
    hits = tuple(
        Hit("d", None, None, "t", 0, 0.01, {}, i, legs={} if s is None else {"vector": LegRank(i + 1, s)})
        for i, s in enumerate(vector_scores)
    )
    return SearchResult(hits, Timings(0, 0, 0), mode="hybrid", distance=distance)


def test_best_similarity_is_a_cosine_whatever_the_distance() -> None:
    assert best_similarity(_result("cosine", [0.4, None, 0.7])) == 0.7
    assert best_similarity(_result("ip", [0.55])) == 0.55
    # l2 scores -distance; unit vectors at cosine 0.6 are sqrt(2 - 1.2) apart.
    assert best_similarity(_result("l2", [-math.sqrt(0.8), -1.2])) == pytest.approx(0.6)
    assert best_similarity(_result("cosine", [None, None])) is None  # keyword-only hits


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(retries=6, backoff_base=0.5, backoff_max=3.0)
    rng = random.Random(1)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (6, 3.0)]:
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered
    assert policy.attempts == 7
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    assert retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "3"})) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after(httpx.Headers({"retry-after": later})) or 0) <= 30
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


def test_content_words_ignore_function_words_and_inflection() -> None:
    assert content_words("How often should I oil my bike chains?") == {"often", "oil", "bik", "chain"}
    assert content_words("Increased levels") == content_words("increasing level") == {"increas", "level"}


def _context(*chunks: str) -> Context:
    sources = tuple(
        Citation(i, f"doc{i}", None, None, chunk, 1.0 / i, i, 0, 0, len(chunk)) for i, chunk in enumerate(chunks, 1)
    )
    return Context(sources, tokens=0, budget=2000)


def test_preselection_keeps_the_units_holding_the_questions_terms() -> None:
    filler = " ".join(f"Sentence {n} says nothing about the matter at hand." for n in range(12))
    first = f"{filler} Espresso needs nine bars of pressure to brew."
    second = f"Espresso brewing takes pressure and finely ground coffee. {filler}"
    context = _context(first, second, "# Espresso pressure", "Too short.")
    picked = preselect("How much pressure does espresso need?", context, limit=3)
    # The two units with both key terms, then (a tie of filler) the better-ranked source's first unit; in context
    # order. Headings and fragments are never candidates.
    assert picked == [
        (1, "Sentence 0 says nothing about the matter at hand."),
        (1, "Espresso needs nine bars of pressure to brew."),
        (2, "Espresso brewing takes pressure and finely ground coffee."),
    ]


def test_preselection_breaks_ties_by_rank_and_keeps_context_order() -> None:
    same = "The reef lies off the coast of Queensland."
    context = _context("Corals build the reef slowly over centuries.", same, same.replace("The", "This"))
    picked = preselect("Where does the reef lie?", context, limit=2)
    # All three hold "reef"; "lie" (stemmed) is in the second and third: they win, in context order.
    assert picked == [(2, same), (3, same.replace("The", "This"))]
    everything = preselect("Where does the reef lie?", context, limit=10)
    assert [marker for marker, _ in everything] == [1, 2, 3]  # under the limit: every candidate, in order
