"""What every client of a hosted model API shares: which failures deserve another try, how long to wait before it
(exponential backoff with jitter, or the server's ``Retry-After``), and how to quote the server's error.

The Chat Completions generator (openai.py) and the embeddings client (openai_embed.py) both retry with this; each
keeps its own loop, since one is async and streams and the other is sync and batches.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from pgseek.errors import ConfigurationError

__all__ = [
    "RETRY_STATUSES",
    "RetryPolicy",
    "Retryable",
    "api_key",
    "error_detail",
    "error_message",
    "exhausted",
    "retry_after",
    "status_failure",
    "transport_failure",
    "wait_refused",
]

E = TypeVar("E", bound=Exception)
HostedError = Callable[..., E]
"""An error class taking ``(message, *, status, attempts)``: GenerationError, EmbeddingError."""

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(520, 530))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` after the first try; the n-th retry waits ``min(backoff_max, backoff_base * 2**(n-1))`` with
    jitter (a uniform draw between half and all of it), or exactly what the server's Retry-After asks for."""

    retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 20.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("retries, backoff_base and backoff_max must be >= 0")

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def backoff(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry - 1))
        return ceiling * (0.5 + rng.random() / 2)

    def wait(self, retry: int, failure: Retryable, rng: random.Random) -> float | None:
        """Seconds to wait before the ``retry``-th retry after ``failure``; None when the server asks for longer
        than ``backoff_max`` (the caller then gives up at once rather than hang)."""
        if failure.wait is None:
            return self.backoff(retry, rng)
        return None if failure.wait > self.backoff_max else failure.wait


class Retryable(Exception):
    """A failure worth another try; ``wait`` is the server's Retry-After in seconds, if it gave one."""

    def __init__(self, message: str, *, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


def transport_failure(exc: httpx.TransportError) -> Retryable:
    """A request that got no answer: a timeout or a connection that failed or dropped, each worth another try."""
    if isinstance(exc, httpx.TimeoutException):
        return Retryable(f"timed out ({type(exc).__name__})")
    return Retryable(f"connection failed ({type(exc).__name__}: {exc})")


def exhausted(error: HostedError[E], where: str, last: Retryable, attempts: int, settings: str) -> E:
    """The error after the last try: where, what the last failure was, and which settings allow more."""
    return error(
        f"{where}: {last} on each of {attempts} attempts; check that the server is up and not overloaded, or allow "
        f"more with {settings}_MAX_RETRIES / {settings}_READ_TIMEOUT",
        status=last.status,
        attempts=attempts,
    )


def status_failure(error: HostedError[E], where: str, response: httpx.Response, hints: Mapping[int, str]) -> Exception:
    """What a non-200 answer means: ``Retryable`` for the statuses worth another try, else the final error with the
    server's own message and a hint for the status (what to check)."""
    status = response.status_code
    detail = error_detail(response)
    if status in RETRY_STATUSES:
        return Retryable(f"HTTP {status}{detail}", status=status, wait=retry_after(response.headers))
    hint = hints.get(status, "the request was refused; see the server's message")
    return error(f"{where}: HTTP {status}{detail}; {hint}", status=status)


def wait_refused(
    error: HostedError[E], where: str, failure: Retryable, retry: int, policy: RetryPolicy, settings: str
) -> E:
    """The error when the server's Retry-After is longer than the policy lets a caller wait."""
    return error(
        f"{where}: {failure}; the server asks to wait {failure.wait or 0:.0f} s before trying again, longer than the "
        f"{policy.backoff_max:.0f} s allowed ({settings}_BACKOFF_MAX)",
        status=failure.status,
        attempts=retry,
    )


def api_key(key: SecretStr | None, base_url: str, *, needed: str) -> str | None:
    """The key to send, if any; OpenAI's own API refuses every request without one, so fail now, saying ``needed``
    (which setting to set) rather than at the first request."""
    secret = key.get_secret_value() if key else None
    if not secret and httpx.URL(base_url).host == "api.openai.com":
        raise ConfigurationError(f"{needed}, or point the base URL at your own OpenAI-compatible server")
    return secret


def error_detail(response: httpx.Response) -> str:
    """The server's own words about a failed request, as ": <message>" (empty when it said nothing)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return f": {text[:200]}" if text else ""
    if isinstance(body, dict) and "error" in body:
        return f": {error_message(body['error'])}"
    return f": {json.dumps(body)[:200]}"


def error_message(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return json.dumps(error)[:200] if not isinstance(error, str) else error


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
