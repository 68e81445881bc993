"""``ask`` end to end on real ingested documents, the real model and the real database: the extractive generator,
refusals, streaming, the async facade, and an OpenAI-compatible server on 127.0.0.1 fed by real retrieval."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from pgseek import Answer, AnswerDelta, AsyncSeek, Document, Seek
from pgseek.answer.ask import REFUSAL
from pgseek.answer.context import build_context
from pgseek.errors import GenerationError, QueryError
from pgseek.providers.extractive import ExtractiveGenerator
from pgseek.providers.openai import OpenAIGenerator, RetryPolicy
from tests.chat_server import ChatServer, Reply
from tests.conftest import DelegatingEmbedder

COLLECTION = "ask"
DOCS = {
    "eiffel": (
        "Eiffel Tower",
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the "
        "engineer Gustave Eiffel, whose company designed and built the tower. The tower was completed in 1889 as the "
        "entrance arch to the World's Fair. It is 330 metres tall and was the tallest man-made structure in the world "
        "until 1930.",
    ),
    "espresso": (
        "Espresso",
        "Espresso is a concentrated form of coffee. It is brewed by forcing a small amount of nearly boiling water "
        "through finely ground coffee beans under about nine bars of pressure. A shot of espresso takes about 25 to 30 "
        "seconds to pull. Espresso is the base of drinks such as the cappuccino and the latte.",
    ),
    "photosynthesis": (
        "Photosynthesis",
        "Photosynthesis is the process by which plants turn light into chemical energy. Chlorophyll in the "
        "chloroplasts absorbs mostly blue and red light. The light reactions split water and release oxygen as a "
        "by-product. The Calvin cycle then fixes carbon dioxide into sugars.",
    ),
    "lighthouse": (
        "Lighthouses",
        "Lighthouses have used Fresnel lenses since the 1820s [2]. A Fresnel lens concentrates the lamp's light into a "
        "beam visible for 40 kilometres out at sea [3, 4].",
    ),
    "reef": (
        "Great Barrier Reef",
        "The Great Barrier Reef is the world's largest coral reef system. It lies in the Coral Sea off the coast of "
        "Queensland, Australia. The reef is made of over 2,900 individual reefs and 900 islands. Rising sea "
        "temperatures cause coral bleaching, which threatens the reef.",
    ),
}
ESPRESSO_SHOT = "A shot of espresso takes about 25 to 30 seconds to pull."
OFF_TOPIC = "Who won the football world cup in 1998?"


@pytest.fixture(scope="module")
def seek(settings: Any, local_embedder: Any) -> Iterator[Seek]:
    documents = [Document(i, text, title=title, source=f"/kb/{i}.md") for i, (title, text) in DOCS.items()]
    documents.append(Document("eiffel-copy", DOCS["eiffel"][1], title="Eiffel Tower", source="/kb/copy.md"))
    with Seek(settings, embedder=local_embedder) as s:
        assert s.ingest_documents(documents, collection=COLLECTION).documents_added == 6
        yield s


def test_the_extractive_answer_quotes_and_cites_the_right_sentence(seek: Seek) -> None:
    answer = seek.ask("How long does an espresso shot take?", collection=COLLECTION)
    assert not answer.refused and answer.refusal_reason is None
    assert answer.text.startswith(f"“{ESPRESSO_SHOT}” [1]")  # the answer quoted first
    assert answer.citations[0].marker == 1 and answer.citations[0].document_id == "espresso"
    cited = answer.citations[0]
    assert DOCS["espresso"][1][cited.start : cited.end] == cited.chunk
    assert cited.title == "Espresso" and cited.source == "/kb/espresso.md"
    for citation in answer.citations:
        assert f"[{citation.marker}]" in answer.text
    assert answer.model == "extractive (sentence-transformers/all-MiniLM-L6-v2)"
    assert answer.dropped_markers == ()
    t = answer.timings_ms
    assert t.embed > 0 and t.search > 0 and t.generate > 0 and t.total >= t.embed + t.search + t.generate


def test_the_extractive_answer_is_deterministic_and_skips_duplicates(seek: Seek) -> None:
    first = seek.ask("When was the Eiffel Tower built and who built it?", collection=COLLECTION)
    second = seek.ask("When was the Eiffel Tower built and who built it?", collection=COLLECTION)
    assert first.text == second.text and first.citations == second.citations
    # eiffel and eiffel-copy hold the same text: the context keeps the better-ranked one only.
    assert len({c.document_id for c in first.citations} & {"eiffel", "eiffel-copy"}) == 1
    assert "Gustave Eiffel" in first.text


def test_each_sentence_carries_its_own_source(seek: Seek) -> None:
    answer = seek.ask("What threatens coral reefs?", collection=COLLECTION, k=4)
    assert "Rising sea temperatures cause coral bleaching, which threatens the reef.” [1]" in answer.text
    assert answer.citations[0].document_id == "reef"


def test_the_documents_own_reference_markers_are_not_citations(seek: Seek) -> None:
    answer = seek.ask("How far out at sea can a lighthouse beam be seen?", collection=COLLECTION)
    expected = "A Fresnel lens concentrates the lamp's light into a beam visible for 40 kilometres out at sea.” [1]"
    assert answer.text.startswith("“") and expected in answer.text
    assert [c.document_id for c in answer.citations] == ["lighthouse"] and answer.dropped_markers == ()
    assert "[3, 4]" in answer.citations[0].chunk  # the citation keeps the document's exact text


def test_an_unrelated_question_is_refused(seek: Seek) -> None:
    answer = seek.ask(OFF_TOPIC, collection=COLLECTION)
    assert answer.refused and answer.refusal_reason == "low_score"
    assert answer.text == REFUSAL and answer.citations == ()
    assert answer.timings_ms.search > 0


def test_a_context_without_the_answer_is_refused(seek: Seek, local_embedder: Any) -> None:
    strict = ExtractiveGenerator(local_embedder, min_score=0.95)
    answer = seek.ask("What gas do plants release?", collection=COLLECTION, generator=strict)
    assert answer.refused and answer.refusal_reason == "not_in_context" and answer.citations == ()


class _Recording(DelegatingEmbedder):
    """The real model, recording what it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls: list[tuple[str, int]] = []

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        self.calls.append((purpose, len(texts)))
        return self.inner.embed(texts, purpose=purpose)


def test_the_answer_reuses_the_searchs_query_vector_and_embeds_one_batch(seek: Seek, local_embedder: Any) -> None:
    recording = _Recording(local_embedder)
    generator = ExtractiveGenerator(recording, max_candidates=3)
    answer = seek.ask("How long does an espresso shot take?", collection=COLLECTION, generator=generator)
    assert answer.text.startswith(f"“{ESPRESSO_SHOT}” [1]")
    assert recording.calls == [("document", 3)]  # at most max_candidates units; the question is not embedded again
    # Without the search's vector (a context built by hand), the generator embeds the question itself.
    recording.calls.clear()
    result = seek.search("How long does an espresso shot take?", collection=COLLECTION, mode="hybrid", k=4)
    assert result.query_vector is not None and result.query_vector.model == local_embedder.info.key
    context = build_context(result.hits, local_embedder.counter, 2000)
    assert generator.select("How long does an espresso shot take?", context)[0].text == ESPRESSO_SHOT
    assert sorted(recording.calls) == [("document", 3), ("query", 1)]


def test_an_empty_collection_or_tenant_refuses_with_no_hits(seek: Seek) -> None:
    answer = seek.ask("How long does an espresso shot take?", collection=COLLECTION, tenant="nobody")
    assert answer.refused and answer.refusal_reason == "no_hits"


def test_keyword_mode_answers_without_a_similarity_gate(seek: Seek) -> None:
    answer = seek.ask("espresso shot seconds", collection=COLLECTION, mode="keyword")
    assert not answer.refused and ESPRESSO_SHOT in answer.text


def test_bad_questions_are_query_errors(seek: Seek) -> None:
    with pytest.raises(QueryError, match="empty"):
        seek.ask("  ", collection=COLLECTION)
    with pytest.raises(QueryError, match="mode"):
        seek.ask("espresso", collection=COLLECTION, mode="semantic")


def test_stream_then_answer(seek: Seek) -> None:
    events = list(seek.ask_stream("How long does an espresso shot take?", collection=COLLECTION))
    *deltas, final = events
    assert isinstance(final, Answer) and all(isinstance(d, AnswerDelta) for d in deltas)
    assert len(deltas) == len(final.text.split(" [")) - 1  # one delta per sentence
    assert "".join(d.text for d in deltas if isinstance(d, AnswerDelta)) == final.text
    refused = list(seek.ask_stream(OFF_TOPIC, collection=COLLECTION))
    assert [type(e) for e in refused] == [AnswerDelta, Answer]
    assert isinstance(refused[0], AnswerDelta) and refused[0].text == REFUSAL


def test_the_json_shape(seek: Seek) -> None:
    body = json.loads(json.dumps(seek.ask("How is espresso brewed?", collection=COLLECTION).to_json()))
    assert set(body) == {"answer", "citations", "refused", "timings_ms", "model"}
    citation_keys = {"marker", "document_id", "title", "source", "chunk", "score", "page", "page_end"}
    assert set(body["citations"][0]) == citation_keys
    assert set(body["timings_ms"]) == {"embed", "search", "generate", "total", "load"}
    assert body["refused"] is False and body["citations"][0]["document_id"] == "espresso"


async def test_the_async_facade(settings: Any, local_embedder: Any, seek: Seek) -> None:
    async with AsyncSeek(settings, embedder=local_embedder) as core:
        answer = await core.ask("How long does an espresso shot take?", collection=COLLECTION)
        assert answer.text.startswith(f"“{ESPRESSO_SHOT}”")
        events = [e async for e in core.ask_stream("How long does an espresso shot take?", collection=COLLECTION)]
    final = events[-1]
    assert isinstance(final, Answer) and final.text == answer.text and final.citations == answer.citations


# -------------------------------------------------------------------------- an OpenAI-compatible model, real search


def test_an_openai_compatible_model_gets_the_retrieved_context(
    settings: Any, local_embedder: Any, seek: Seek, chat_server: ChatServer
) -> None:
    chat_server.queue(Reply(content="About 25 to 30 seconds [1]; see also [5]."))
    tuned = settings.model_copy(update={"generator": "openai", "openai_base_url": chat_server.url})
    with Seek(tuned, embedder=local_embedder) as s:
        assert isinstance(s.generator(), OpenAIGenerator)
        answer = s.ask("How long does an espresso shot take?", collection=COLLECTION, k=3)
    user = chat_server.requests[0].body["messages"][1]["content"]
    assert f"[1] Espresso (/kb/espresso.md)\n{DOCS['espresso'][1]}" in user
    assert "[2]" in user and "[4]" not in user  # k=3, less a duplicate if eiffel and its copy both rank
    assert answer.text == "About 25 to 30 seconds [1]; see also."
    assert [c.document_id for c in answer.citations] == ["espresso"] and answer.dropped_markers == (5,)
    assert answer.model == "gpt-4o-mini"


def test_the_context_budget_limits_what_the_model_sees(
    settings: Any, local_embedder: Any, seek: Seek, chat_server: ChatServer
) -> None:
    tuned = settings.model_copy(update={"context_tokens": 100})
    generator = OpenAIGenerator(base_url=chat_server.url, model="m")
    with Seek(tuned, embedder=local_embedder, generator=generator) as s:
        s.ask("How long does an espresso shot take?", collection=COLLECTION)
    user = chat_server.requests[0].body["messages"][1]["content"]
    assert "[1] Espresso" in user and "[2]" not in user  # each source is about 70 word pieces


def test_a_failing_model_is_a_generation_error(
    settings: Any, local_embedder: Any, seek: Seek, chat_server: ChatServer
) -> None:
    chat_server.default = Reply(status=500)
    generator = OpenAIGenerator(base_url=chat_server.url, model="m", retry=RetryPolicy(1, 0.01, 1))
    with Seek(settings, embedder=local_embedder, generator=generator) as s, pytest.raises(GenerationError):
        s.ask("How long does an espresso shot take?", collection=COLLECTION)
    assert len(chat_server.requests) == 2


def test_stopping_a_stream_early_ends_the_request(
    settings: Any, local_embedder: Any, seek: Seek, chat_server: ChatServer
) -> None:
    chat_server.queue(Reply(content="one two three four five six seven eight", hold_after_first=True))
    generator = OpenAIGenerator(base_url=chat_server.url, model="m")
    with Seek(settings, embedder=local_embedder, generator=generator) as s:
        for event in s.ask_stream("How long does an espresso shot take?", collection=COLLECTION):
            assert isinstance(event, AnswerDelta) and event.text == "one"
            break
        chat_server.release.set()
        assert chat_server.gone_before_done.wait(5)  # the connection was closed, not left to the garbage collector
        assert s.ask("How long does an espresso shot take?", collection=COLLECTION).citations  # still usable
