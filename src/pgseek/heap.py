"""The C heap: give its free pages back to the operating system after work that allocated a lot of it."""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any


def _malloc_trim() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None).malloc_trim
    return None  # not glibc (musl, macOS): nothing to call


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return the free pages of every glibc arena to the operating system (``malloc_trim(0)``); else nothing.

    A batch of 64 chunks of 256 tokens allocates activations of 25-100 MB per tensor. glibc serves them from its
    arenas (its mmap threshold rises to 32 MB after the first large free) and keeps what they free, in the arena of
    every thread that ran the model: a server grew by 0.3-0.6 GB over its first ingests and kept it. The call walks
    all arenas: 2-70 ms, next to the seconds an ingest group takes to embed (docs/decisions/0011-*.md).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
