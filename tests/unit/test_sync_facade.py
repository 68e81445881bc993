"""``Seek`` is ``AsyncSeek``'s typed sync twin: the same public methods with the same parameters and annotations.

The sync signatures are written out (not ``**kwargs: Any``) so that mypy checks sync callers; this test keeps them
from drifting apart when a method or parameter is added to one side only.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any

import pytest

import pgseek.evaluate.runner
import pgseek.ops.capacity
import pgseek.ops.findings
import pgseek.ops.maintain
import pgseek.ops.partitions
import pgseek.ops.watch
import pgseek.seek
from pgseek.seek import AsyncSeek, Seek

# The service's supervisor (a background task that restarts its database and reopens the pool) and the hook that
# wakes it, and the recall watch (a background task sampling the service's searches) with its figures: they live on
# the service's own event loop (api/app.py's lifespan), which a sync script does not have.
ASYNC_ONLY: set[str] = {"supervise", "suspect_database", "watch_recall", "live_recall"}
SYNC_ONLY: set[str] = set()


def _public(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in ASYNC_ONLY | SYNC_ONLY
    }


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    # The evaluation's types are imported by pgseek.seek only for type checking (they load where they are used).
    return typing.get_type_hints(
        function,
        {
            **vars(pgseek.evaluate.runner),
            **vars(pgseek.evaluate),
            **vars(pgseek.ops.capacity),
            **vars(pgseek.ops.findings),
            **vars(pgseek.ops.maintain),
            **vars(pgseek.ops.partitions),
            **vars(pgseek.ops.watch),
            **vars(pgseek.seek),
        },
    )


def _sync_return(async_method: Callable[..., Any]) -> Any:
    """What the sync twin returns: a coroutine's result, or an iterator over an async generator's items."""
    hint = _hints(async_method)["return"]
    if typing.get_origin(hint) is AsyncGenerator:
        item: Any = typing.get_args(hint)[0]
        return Iterator[item]
    if inspect.iscoroutinefunction(async_method):
        return hint
    if typing.get_origin(hint) is Coroutine:
        return typing.get_args(hint)[2]
    return hint


def test_same_public_methods() -> None:
    assert sorted(_public(AsyncSeek)) == sorted(_public(Seek))


@pytest.mark.parametrize("name", sorted(_public(AsyncSeek)))
def test_same_signature(name: str) -> None:
    async_method, sync_method = getattr(AsyncSeek, name), getattr(Seek, name)
    async_params = list(inspect.signature(async_method).parameters.values())
    sync_params = list(inspect.signature(sync_method).parameters.values())
    assert [(p.name, p.kind, p.default) for p in async_params] == [(p.name, p.kind, p.default) for p in sync_params]
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in sync_params), f"Seek.{name} takes **kwargs"
    async_hints, sync_hints = _hints(async_method), _hints(sync_method)
    for param in async_params[1:]:
        assert async_hints[param.name] == sync_hints[param.name], f"{name}({param.name})"
    assert _sync_return(async_method) == sync_hints["return"], f"{name} returns"
