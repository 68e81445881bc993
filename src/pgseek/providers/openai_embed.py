"""An embedder for any server that speaks the OpenAI embeddings API (``POST {base_url}/embeddings``): OpenAI, Azure
OpenAI, vLLM, Ollama, LiteLLM proxy, Hugging Face TEI...

A batch is cut into requests of at most ``batch_texts`` inputs and ``batch_tokens`` estimated tokens, sent at most
``concurrency`` at a time (over every caller of this embedder: searches and ingestion share the bound). Each request
is retried like the Chat Completions client's (http_retry.py): 408, 429 and 5xx answers, timeouts, dropped
connections and a 200 whose body is not JSON (what a failing proxy sends), with exponential backoff and jitter or the
server's ``Retry-After``. Any other refusal fails at once; so does an answer with the wrong number of vectors or of
dimensions, which a retry would only repeat. Every vector is checked for its dimension and finite values, then
normalised to unit length, so that cosine and inner-product collections rank alike whatever the server does.

Token counts: the server's tokenizer is not on this machine, and nothing is downloaded at run time, so inputs are
counted with the bundled all-MiniLM-L6-v2 word pieces (tokens.WordPieceEstimate) under a safety margin
(tokens.remote_budget); docs/embedders.md says why that bound.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np
from numpy.typing import NDArray

from pgseek.errors import ConfigurationError, EmbeddingError
from pgseek.providers.http_retry import (
    Retryable,
    RetryPolicy,
    api_key,
    exhausted,
    status_failure,
    transport_failure,
    wait_refused,
)
from pgseek.providers.tokens import TokenCounter, WordPieceEstimate, count_tokens, remote_budget
from pgseek.types import ModelInfo

if TYPE_CHECKING:
    from pgseek.config import Settings
    from pgseek.providers.registry import EmbedderSpec

__all__ = ["KNOWN_MODELS", "OpenAIEmbedder", "from_spec"]

PROVIDER = "openai"
UNPINNED = "unpinned"
DEFAULT_MAX_TOKENS = 512
"""Assumed input limit of a model pgseek does not know and the settings do not size: that of most BERT-family models,
the smallest common one."""


_HINTS = {
    400: "the server refused the input (too long for the model? chunk smaller: PGSEEK_CHUNK_TOKENS for a new "
    "collection, pgseek models add --chunk-tokens for an existing one)",
    413: "an input is too long for the model: chunk smaller (PGSEEK_CHUNK_TOKENS for a new collection, pgseek "
    "models add --chunk-tokens for an existing one)",
    401: "check PGSEEK_EMBED_API_KEY",
    403: "check PGSEEK_EMBED_API_KEY and the model's access rights",
    404: "check PGSEEK_EMBED_BASE_URL (usually ending in /v1) and PGSEEK_MODEL",
}
"""What to check when the server refuses a request with this status."""


@dataclass(frozen=True, slots=True)
class KnownModel:
    dimensions: int
    max_tokens: int
    shortens: bool
    """Accepts the ``dimensions`` parameter (returns shortened, renormalised Matryoshka vectors)."""


KNOWN_MODELS = {
    "text-embedding-3-small": KnownModel(1536, 8191, shortens=True),
    "text-embedding-3-large": KnownModel(3072, 8191, shortens=True),
    "text-embedding-ada-002": KnownModel(1536, 8191, shortens=False),
}


class OpenAIEmbedder:
    """OpenAI-compatible embeddings client (httpx, sync: pgseek calls embedders from worker threads).

    ``dimensions`` None asks the server once, at construction, with a one-word input. ``shorten`` sends
    ``dimensions`` with each request (text-embedding-3 models accept it; None: only for those).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        shorten: bool | None = None,
        max_tokens: int | None = None,
        version: str = UNPINNED,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        batch_texts: int = 128,
        batch_tokens: int = 100_000,
        concurrency: int = 4,
        encoding_format: Literal["float", "base64"] = "float",
        counter: TokenCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"PGSEEK_EMBED_BASE_URL {base_url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)"
            )
        if not model:
            raise ConfigurationError("no embedding model named: set PGSEEK_MODEL (e.g. text-embedding-3-small)")
        if batch_texts < 1 or batch_tokens < 1 or concurrency < 1:
            raise ConfigurationError("batch_texts, batch_tokens and concurrency must be >= 1")
        known = KNOWN_MODELS.get(model)
        if known is not None and not known.shortens and dimensions not in (None, known.dimensions):
            raise ConfigurationError(
                f"{model} returns {known.dimensions} dimensions and cannot shorten them; unset PGSEEK_EMBED_DIMENSIONS"
            )
        self.url = _endpoint(base_url)
        self._model = model
        self._api_key = api_key
        self._shorten = (known is not None and known.shortens) if shorten is None else shorten
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.retry = retry or RetryPolicy()
        self._batch_texts = batch_texts
        self._batch_tokens = batch_tokens
        self._encoding = encoding_format
        self._counter = counter or WordPieceEstimate.bundled()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots = threading.BoundedSemaphore(concurrency)
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.Client(timeout=self.timeout, limits=limits, headers=self._headers())
        model_tokens = max_tokens or (known.max_tokens if known else DEFAULT_MAX_TOKENS)
        self._dimensions = dimensions or (known.dimensions if known is not None else None)
        if self._dimensions is None:
            self._dimensions = self._probe()
        self._info = ModelInfo(
            provider=PROVIDER, name=model, dimensions=self._dimensions, version=version, max_tokens=model_tokens
        )
        self._budget = remote_budget(model_tokens)

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def counter(self) -> TokenCounter:
        return self._counter

    @property
    def max_tokens(self) -> int:
        return self._budget

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self._client.close()

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        vectors = np.empty((len(texts), self._info.dimensions), dtype=np.float32)
        requests = list(self._requests(texts))
        if len(requests) <= 1:
            for start, end in requests:
                vectors[start:end] = self._post(texts[start:end])
            return vectors
        pool = self._executor()
        futures = [(start, end, pool.submit(self._post, texts[start:end])) for start, end in requests]
        for start, end, future in futures:
            vectors[start:end] = future.result()
        return vectors

    def _requests(self, texts: Sequence[str]) -> Iterator[tuple[int, int]]:
        """Consecutive [start, end) ranges of at most ``batch_texts`` texts and ``batch_tokens`` estimated tokens
        (a single text over the budget still goes alone: the server, not this client, knows its real length)."""
        start, tokens = 0, 0
        for i, text in enumerate(texts):
            size = count_tokens(self._counter, text)
            if i > start and (i - start >= self._batch_texts or tokens + size > self._batch_tokens):
                yield start, i
                start, tokens = i, 0
            tokens += size
        if start < len(texts):
            yield start, len(texts)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="pgseek-embed")
            return self._pool

    def _probe(self) -> int:
        return int(self._post(["dimensions"], expected=None).shape[1])

    def _post(self, texts: Sequence[str], *, expected: int | Literal["info"] | None = "info") -> NDArray[np.float32]:
        """One request's vectors, retried; EmbeddingError after the last try or for an answer no retry can fix."""
        dims = self._dimensions if expected == "info" else expected
        body: dict[str, Any] = {"model": self._model, "input": list(texts), "encoding_format": self._encoding}
        if self._shorten and self._dimensions is not None:
            body["dimensions"] = self._dimensions
        last: Retryable | None = None
        for attempt in range(1, self.retry.attempts + 1):
            if last is not None:
                self._sleep(self._delay(attempt - 1, last))
            try:
                with self._slots:
                    raw = self._attempt(body)
                return self._vectors(raw, len(texts), dims)
            except Retryable as exc:
                last = exc
        assert last is not None
        raise exhausted(EmbeddingError, self._where, last, self.retry.attempts, "PGSEEK_EMBED") from last

    def _delay(self, retry: int, failure: Retryable) -> float:
        wait = self.retry.wait(retry, failure, self._rng)
        if wait is None:
            raise wait_refused(EmbeddingError, self._where, failure, retry, self.retry, "PGSEEK_EMBED") from failure
        return wait

    @property
    def _where(self) -> str:
        return f"embedding model {self._model!r} at {self.url}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._api_key:
            # Azure OpenAI authenticates with its own header; everything else takes a bearer token.
            if httpx.URL(self.url).host.endswith(".azure.com"):
                headers["api-key"] = self._api_key
            else:
                headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _attempt(self, body: dict[str, Any]) -> Any:
        """One request: its parsed JSON body; Retryable for what deserves another try, EmbeddingError otherwise."""
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TransportError as exc:
            raise transport_failure(exc) from exc
        if response.status_code != 200:
            raise self._status_error(response)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Retryable(f"HTTP 200 with a body that is not JSON: {response.text[:200]!r}", status=200) from exc

    def _status_error(self, response: httpx.Response) -> Exception:
        return status_failure(EmbeddingError, self._where, response, _HINTS)

    def _vectors(self, body: Any, count: int, dims: int | None) -> NDArray[np.float32]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != count:
            got = f"{len(data)} vectors" if isinstance(data, list) else "no 'data' list"
            raise self._malformed(f"{got} for {count} inputs", body)
        rows: list[NDArray[np.float32] | None] = [None] * count
        for item in data:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or rows[index] is not None:
                raise self._malformed("items whose 'index' values are not 0..n-1, each once", body)
            rows[index] = self._vector(item.get("embedding"), dims, body)
        matrix = np.stack([row for row in rows if row is not None])
        return _unit_rows(matrix, self._model)

    def _vector(self, value: Any, dims: int | None, body: Any) -> NDArray[np.float32]:
        if isinstance(value, str):
            try:
                vector = np.frombuffer(base64.b64decode(value, validate=True), dtype="<f4").astype(np.float32)
            except ValueError as exc:
                raise self._malformed("an 'embedding' string that is not base64 float32", body) from exc
        elif isinstance(value, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
            vector = np.asarray(value, dtype=np.float32)
        else:
            raise self._malformed("an 'embedding' that is neither a list of numbers nor base64", body)
        if dims is not None and vector.shape != (dims,):
            raise EmbeddingError(
                f"{self._where} returned a vector of {vector.shape[0]} dimensions, "
                f"expected {dims}; check PGSEEK_MODEL and PGSEEK_EMBED_DIMENSIONS (a collection keeps the dimensions "
                "it was first embedded with)"
            )
        if not vector.size or not np.isfinite(vector).all():
            raise self._malformed("a vector that is empty or not finite", body)
        return vector

    def _malformed(self, what: str, body: Any) -> EmbeddingError:
        return EmbeddingError(
            f"{self._where}: not an embeddings response ({what}): "
            f"{json.dumps(body)[:200]!r}; is PGSEEK_EMBED_BASE_URL an OpenAI-compatible endpoint?",
            status=200,
        )


def from_spec(spec: EmbedderSpec, settings: Settings) -> OpenAIEmbedder:
    """The ``openai`` entry point: the model ``spec`` names, reached through the PGSEEK_EMBED_* settings."""
    needed = "the OpenAI embeddings API needs a key: set PGSEEK_EMBED_API_KEY (or PGSEEK_OPENAI_API_KEY)"
    secret = api_key(settings.embed_api_key or settings.openai_api_key, settings.embed_base_url, needed=needed)
    return OpenAIEmbedder(
        base_url=settings.embed_base_url,
        model=spec.name,
        api_key=secret,
        dimensions=spec.dimensions,
        max_tokens=spec.max_tokens,
        version=spec.version or UNPINNED,
        connect_timeout=settings.embed_connect_timeout,
        read_timeout=settings.embed_read_timeout,
        retry=RetryPolicy(settings.embed_max_retries, settings.embed_backoff_base, settings.embed_backoff_max),
        batch_texts=settings.embed_request_texts,
        batch_tokens=settings.embed_request_tokens,
        concurrency=settings.embed_concurrency,
    )


def _endpoint(base_url: str) -> str:
    """``{base_url}/embeddings``, keeping a query string (Azure's ``?api-version=...``)."""
    url = httpx.URL(base_url)
    return str(url.copy_with(path=url.path.rstrip("/") + "/embeddings"))


def _unit_rows(matrix: NDArray[np.float32], model: str) -> NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise EmbeddingError(f"embedding model {model!r} returned a zero vector, which has no direction to search by")
    unit: NDArray[np.float32] = (matrix / norms).astype(np.float32)
    return unit
