"""A generator for any server that speaks the OpenAI Chat Completions API: OpenAI, vLLM, Ollama, llama.cpp server,
LiteLLM proxy...

One ``POST {base_url}/chat/completions`` per answer, with a system prompt that confines the model to the numbered
context and asks for [n] citations, temperature 0 by default. Streaming reads server-sent events (``data: {...}``
lines, ended by ``data: [DONE]``).

Failures: 408, 429 and 5xx answers, timeouts and dropped connections are retried with exponential backoff and jitter,
honouring the server's ``Retry-After`` (or ``retry-after-ms``); any other HTTP error, and a body that is not a Chat
Completions response, fail at once. Either way the error is a ``GenerationError`` that says what happened and what to
check. A stream is retried only until its first piece of text: after that, a retry would repeat what was shown.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx

from pgseek.errors import ConfigurationError, GenerationError
from pgseek.providers.http_retry import (
    Retryable,
    RetryPolicy,
    api_key,
    error_message,
    exhausted,
    status_failure,
    transport_failure,
    wait_refused,
)
from pgseek.providers.prompt import render_context
from pgseek.types import Context

if TYPE_CHECKING:
    from pgseek.config import Settings

__all__ = ["SYSTEM_PROMPT", "OpenAIGenerator", "RetryPolicy", "user_message"]

SYSTEM_PROMPT = """\
You answer questions using only the numbered sources given in the user's message.
- Use no knowledge beyond those sources; never guess.
- Cite the source of every sentence with its number in square brackets, like [1], or [1][3] for several.
- Cite only the numbers of the sources given.
- Be concise: a few sentences.
- If the sources do not contain the answer, reply exactly NO_ANSWER and nothing else."""

Sleep = Callable[[float], Awaitable[None]]


def user_message(question: str, context: Context) -> str:
    return f"Sources:\n\n{render_context(context)}\n\nQuestion: {question}"


_HINTS = {
    401: "check PGSEEK_OPENAI_API_KEY",
    403: "check PGSEEK_OPENAI_API_KEY and the model's access rights",
    404: "check PGSEEK_OPENAI_BASE_URL (usually ending in /v1) and PGSEEK_OPENAI_MODEL",
}
"""What to check when the server refuses a request with this status."""


class OpenAIGenerator:
    """Chat Completions client (httpx). Reuses its connections; ``await aclose()`` when done."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"the model server URL {base_url!r} must start with http:// or https://")
        if not model:
            raise ConfigurationError("no model named: set PGSEEK_OPENAI_MODEL (or --openai-model)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._api_key = api_key
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.retry = retry or RetryPolicy()
        self.system_prompt = system_prompt
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIGenerator:
        needed = "PGSEEK_GENERATOR=openai with the OpenAI API needs a key: set PGSEEK_OPENAI_API_KEY"
        key = api_key(settings.openai_api_key, settings.openai_base_url, needed=needed)
        return cls(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=key,
            temperature=settings.openai_temperature,
            max_tokens=settings.openai_max_tokens,
            connect_timeout=settings.openai_connect_timeout,
            read_timeout=settings.openai_read_timeout,
            retry=RetryPolicy(settings.openai_max_retries, settings.openai_backoff_base, settings.openai_backoff_max),
        )

    @property
    def model(self) -> str:
        return self._model

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def request_body(self, question: str, context: Context, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": user_message(question, context)},
            ],
            "temperature": self.temperature,
            "stream": stream,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    async def generate(self, question: str, context: Context, *, stream: bool = False) -> AsyncIterator[str]:
        body = self.request_body(question, context, stream=stream)
        last: Retryable | None = None
        for attempt in range(1, self.retry.attempts + 1):
            if last is not None:
                await self._sleep(self._delay(attempt - 1, last))
            shown = False
            try:
                # aclosing: a reader that stops early must end the request now, not when the generator is collected.
                async with aclosing(self._attempt(body, stream=stream)) as pieces:
                    async for piece in pieces:
                        shown = True
                        yield piece
                return
            except Retryable as exc:
                if shown:
                    raise GenerationError(
                        f"{self.url}: the answer stream broke after it had begun ({exc}); ask again",
                        status=exc.status,
                        attempts=attempt,
                    ) from exc
                last = exc
        assert last is not None
        raise exhausted(GenerationError, self.url, last, self.retry.attempts, "PGSEEK_OPENAI") from last

    def _delay(self, retry: int, failure: Retryable) -> float:
        wait = self.retry.wait(retry, failure, self._rng)
        if wait is None:
            raise wait_refused(GenerationError, self.url, failure, retry, self.retry, "PGSEEK_OPENAI") from failure
        return wait

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def _attempt(self, body: dict[str, Any], *, stream: bool) -> AsyncGenerator[str, None]:
        """One request: its text in pieces; Retryable for what deserves another try, GenerationError otherwise."""
        try:
            async with self._http().stream("POST", self.url, json=body, headers=self._headers()) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._status_error(response)
                if "text/event-stream" in response.headers.get("content-type", ""):
                    async with aclosing(_sse_pieces(response, self.url)) as pieces:
                        async for piece in pieces:
                            yield piece
                else:
                    # Some servers answer a stream request with one JSON body; that is still an answer.
                    yield _completion_text(await response.aread(), self.url)
        except httpx.TransportError as exc:
            raise transport_failure(exc) from exc

    def _status_error(self, response: httpx.Response) -> Exception:
        return status_failure(GenerationError, self.url, response, _HINTS)


async def _sse_pieces(response: httpx.Response, url: str) -> AsyncGenerator[str, None]:
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # comments (":"), "event:", "id:" and blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise GenerationError(f"{url}: a stream event is not JSON ({exc.msg}): {data[:200]!r}") from exc
        if not isinstance(event, dict):
            raise GenerationError(f"{url}: a stream event is not a JSON object: {data[:200]!r}")
        if "error" in event:
            raise GenerationError(f"{url}: the server reported an error mid-stream: {error_message(event['error'])}")
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise _malformed(url, "a stream event without a 'choices' list", data)
        if not choices:
            continue  # usage-only events
        delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
        if not isinstance(delta, dict):
            raise _malformed(url, "a stream event without 'choices[0].delta'", data)
        content = delta.get("content")
        if content:
            if not isinstance(content, str):
                raise _malformed(url, "'delta.content' that is not a string", data)
            yield content


def _completion_text(raw: bytes, url: str) -> str:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _malformed(url, "a body that is not JSON", raw.decode("utf-8", "replace")) from exc
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _malformed(url, "no 'choices[0].message.content'", raw.decode("utf-8", "replace")) from None
    if not isinstance(content, str):
        raise _malformed(url, "'choices[0].message.content' that is not a string", json.dumps(body))
    return content


def _malformed(url: str, what: str, body: str) -> GenerationError:
    return GenerationError(
        f"{url}: not a Chat Completions response ({what}): {body[:200]!r}; is PGSEEK_OPENAI_BASE_URL an "
        "OpenAI-compatible endpoint?"
    )
