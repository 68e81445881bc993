"""The OpenAI-compatible embedder against a real embeddings server on 127.0.0.1 that answers with the real model's
vectors: the production client code, real sockets, real timeouts, real dropped connections."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from pgseek.errors import ConfigurationError, EmbeddingError
from pgseek.providers.http_retry import RetryPolicy
from pgseek.providers.local import LocalEmbedder
from pgseek.providers.openai_embed import OpenAIEmbedder
from tests.embeddings_server import EmbeddingsServer, Reply

FAST = RetryPolicy(retries=3, backoff_base=0.05, backoff_max=2.0)
TEXTS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair.",
    "Espresso is brewed by forcing hot water through finely ground coffee.",
    "Photosynthesis converts light energy into chemical energy.",
]


class Sleeps:
    """Records what the client asked to wait, then really waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(seconds)


Client = Callable[..., OpenAIEmbedder]


@pytest.fixture()
def client() -> Iterator[Client]:
    """Makes embedders for a server (test defaults, overridable), closing them all after the test."""
    made: list[OpenAIEmbedder] = []

    def make(server: EmbeddingsServer, **kwargs: Any) -> OpenAIEmbedder:
        options: dict[str, Any] = {
            "model": "all-minilm",
            "api_key": "sk-test",
            "dimensions": 384,
            "retry": FAST,
            "read_timeout": 5.0,
            "rng": random.Random(7),
            **kwargs,
        }
        made.append(OpenAIEmbedder(base_url=options.pop("base_url", server.url), **options))
        return made[-1]

    yield make
    for embedder in made:
        embedder.close()


def test_vectors_are_the_models_and_the_request_is_well_formed(
    embeddings_server: EmbeddingsServer, local_embedder: LocalEmbedder, client: Client
) -> None:
    embedder = client(embeddings_server)
    vectors = embedder.embed(TEXTS)
    expected = local_embedder.embed(TEXTS)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(vectors, expected, atol=1e-5)
    (request,) = embeddings_server.requests
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "all-minilm", "input": TEXTS, "encoding_format": "float"}
    assert request.headers["authorization"] == "Bearer sk-test"
    assert embedder.info.provider == "openai" and embedder.info.name == "all-minilm"
    assert embedder.info.dimensions == 384 and embedder.info.version == "unpinned"


def test_base64_vectors_decode_to_the_same(
    embeddings_server: EmbeddingsServer, local_embedder: LocalEmbedder, client: Client
) -> None:
    vectors = client(embeddings_server, encoding_format="base64").embed(TEXTS)
    assert embeddings_server.requests[0].body["encoding_format"] == "base64"
    assert np.allclose(vectors, local_embedder.embed(TEXTS), atol=1e-5)


def test_dimensions_are_unknown_until_the_server_is_asked(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embedder = client(embeddings_server, dimensions=None)
    assert embedder.info.dimensions == 384
    assert embeddings_server.inputs() == [["dimensions"]]


def test_text_embedding_3_is_asked_for_shortened_vectors(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embedder = client(embeddings_server, model="text-embedding-3-small", dimensions=128)
    vectors = embedder.embed(TEXTS)
    assert embeddings_server.requests[0].body["dimensions"] == 128
    assert vectors.shape == (3, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.info.max_tokens == 8191 and embedder.max_tokens < 8191 // 2 + 1


def test_a_model_that_cannot_shorten_refuses_other_dimensions() -> None:
    with pytest.raises(ConfigurationError, match="text-embedding-ada-002 returns 1536 dimensions"):
        OpenAIEmbedder(base_url="http://127.0.0.1:9/v1", model="text-embedding-ada-002", dimensions=256)


def test_out_of_order_indexes_put_each_vector_with_its_text(
    embeddings_server: EmbeddingsServer, local_embedder: LocalEmbedder, client: Client
) -> None:
    embeddings_server.queue(Reply(reverse=True))
    vectors = client(embeddings_server).embed(TEXTS)
    assert np.allclose(vectors, local_embedder.embed(TEXTS), atol=1e-5)


def test_429_with_retry_after_is_honoured(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(status=429, headers={"Retry-After": "1"}))
    sleeps = Sleeps()
    vectors = client(embeddings_server, sleep=sleeps).embed(TEXTS)
    assert vectors.shape == (3, 384)
    assert sleeps.waits == [1.0] and len(embeddings_server.requests) == 2


def test_503s_are_retried_with_growing_backoff(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(status=503), Reply(status=503))
    sleeps = Sleeps()
    client(embeddings_server, sleep=sleeps).embed(TEXTS)
    assert len(embeddings_server.requests) == 3
    first, second = sleeps.waits
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1  # jitter: half to all of 0.05 * 2**(n-1)


def test_a_reply_slower_than_the_read_timeout_is_retried(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(delay=1.5))
    vectors = client(embeddings_server, read_timeout=0.3).embed(TEXTS)
    assert vectors.shape == (3, 384) and len(embeddings_server.requests) == 2


def test_a_dropped_connection_is_retried(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(drop=True))
    vectors = client(embeddings_server).embed(TEXTS)
    assert vectors.shape == (3, 384) and len(embeddings_server.requests) == 2


def test_a_body_that_is_not_json_is_retried(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(raw=b"<html>502 Bad Gateway</html>"))
    vectors = client(embeddings_server).embed(TEXTS)
    assert vectors.shape == (3, 384) and len(embeddings_server.requests) == 2


def test_json_that_is_not_an_embeddings_answer_fails_at_once(
    embeddings_server: EmbeddingsServer, client: Client
) -> None:
    embeddings_server.queue(Reply(raw=b'{"result": "ok"}'))
    with pytest.raises(
        EmbeddingError, match=r"'all-minilm' .*not an embeddings response \(no 'data' list for 3 inputs\)"
    ):
        client(embeddings_server).embed(TEXTS)
    assert len(embeddings_server.requests) == 1


def test_vectors_of_the_wrong_dimension_fail_at_once(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(dimensions_off=16))
    with pytest.raises(EmbeddingError, match=r"'all-minilm' .* 400 dimensions, expected 384"):
        client(embeddings_server).embed(TEXTS)
    assert len(embeddings_server.requests) == 1


def test_the_last_error_names_the_model_and_the_last_status(
    embeddings_server: EmbeddingsServer, client: Client
) -> None:
    embeddings_server.queue(*[Reply(status=503)] * 3, Reply(status=502))
    with pytest.raises(EmbeddingError) as caught:
        client(embeddings_server).embed(TEXTS)
    message = str(caught.value)
    assert "'all-minilm'" in message and "HTTP 502" in message and "each of 4 attempts" in message
    assert caught.value.status == 502 and caught.value.attempts == 4


def test_a_refusal_fails_at_once_with_a_hint(embeddings_server: EmbeddingsServer, client: Client) -> None:
    embeddings_server.queue(Reply(status=401))
    with pytest.raises(EmbeddingError, match="HTTP 401: scripted failure 401; check PGSEEK_EMBED_API_KEY"):
        client(embeddings_server).embed(TEXTS)
    assert len(embeddings_server.requests) == 1


def test_a_retry_after_beyond_the_allowed_wait_fails_at_once(
    embeddings_server: EmbeddingsServer, client: Client
) -> None:
    embeddings_server.queue(Reply(status=429, headers={"Retry-After": "600"}))
    with pytest.raises(EmbeddingError, match="asks to wait 600 s before trying again, longer than the 2 s allowed"):
        client(embeddings_server).embed(TEXTS)


def test_batches_are_cut_by_count_and_by_tokens(embeddings_server: EmbeddingsServer, client: Client) -> None:
    texts = [f"sentence number {i} about towers" for i in range(10)]  # 5 word pieces each
    client(embeddings_server, batch_texts=4, concurrency=1).embed(texts)
    assert [len(inputs) for inputs in embeddings_server.inputs()] == [4, 4, 2]
    embeddings_server.requests.clear()
    vectors = client(embeddings_server, batch_tokens=12, concurrency=1).embed(texts)
    assert [len(inputs) for inputs in embeddings_server.inputs()] == [2] * 5
    assert [t for inputs in embeddings_server.inputs() for t in inputs] == texts and vectors.shape == (10, 384)


def test_requests_in_flight_never_exceed_the_bound(local_embedder: LocalEmbedder, client: Client) -> None:
    server = EmbeddingsServer(local_embedder.embed, delay=0.2).start()
    try:
        texts = [f"text {i}" for i in range(24)]
        vectors = client(server, batch_texts=2, concurrency=3).embed(texts)
        assert len(server.requests) == 12 and 2 <= server.max_in_flight <= 3
        assert np.allclose(vectors, local_embedder.embed(texts), atol=1e-5)
    finally:
        server.stop()


def test_azure_style_urls_keep_their_query_string(embeddings_server: EmbeddingsServer, client: Client) -> None:
    base = embeddings_server.url.replace("/v1", "/openai/deployments/minilm") + "?api-version=2024-02-01"
    embedder = client(embeddings_server, base_url=base)
    assert embedder.url.endswith("/openai/deployments/minilm/embeddings?api-version=2024-02-01")
    embedder.embed(TEXTS[:1])
    request = embeddings_server.requests[0]
    assert request.path == "/openai/deployments/minilm/embeddings" and request.query == "api-version=2024-02-01"


def test_a_base64_vector_that_is_not_base64_fails_clearly(embeddings_server: EmbeddingsServer, client: Client) -> None:
    bad = base64.b64encode(b"abc").decode()  # three bytes: not a whole float32
    body = f'{{"data": [{{"index": 0, "embedding": "{bad}"}}]}}'.encode()
    embeddings_server.queue(Reply(raw=body))
    with pytest.raises(EmbeddingError, match="not base64 float32"):
        client(embeddings_server).embed(TEXTS[:1])
