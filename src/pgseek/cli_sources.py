"""``pgseek watch DIR`` and ``pgseek consume``: sources that keep a collection current through the work queue
(docs/sources.md). Each runs until SIGTERM or Ctrl-C, with a worker in the same process unless ``--workers 0``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pgseek.cli_common import CollectionOpt, TenantOpt, err, out, settings_from

if TYPE_CHECKING:
    from pgseek.config import Settings
    from pgseek.seek import AsyncSeek
    from pgseek.sources.folder import Queued
    from pgseek.sources.nats_stream import Consumed

SourceRun = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A source's ``run``, given the event that stops it."""
WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers",
        min=0,
        max=64,
        help="Worker slots run in this process; 0 only queues (run `pgseek worker` elsewhere).",
    ),
]


def watch(
    folder: Annotated[Path, typer.Argument(help="The folder to keep in sync.", exists=True, file_okay=False)],
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    debounce: Annotated[
        int, typer.Option("--debounce", min=10, max=60_000, help="Milliseconds of quiet that close a set of changes.")
    ] = 500,
    scan: Annotated[
        bool, typer.Option("--scan/--no-scan", help="Queue the folder's files (and deletions) at start.")
    ] = True,
    workers: WorkersOpt = 1,
) -> None:
    """Keep a collection in sync with a folder: file creations, changes, moves and deletions become jobs."""
    from pgseek.sources.folder import FolderWatch

    settings = settings_from(collection=collection, tenant=tenant)

    def make(seek: AsyncSeek) -> SourceRun:
        source = FolderWatch(
            seek,
            folder,
            collection=settings.collection,
            tenant=settings.tenant,
            debounce_ms=debounce,
            scan=scan,
            on_queued=_say_queued,
            max_file_bytes=settings.max_file_bytes,
        )
        err.print(f"watching {source.root} into collection {settings.collection!r}; Ctrl-C stops", highlight=False)
        return source.run

    _run_source(settings, make, workers)


def consume(
    url: Annotated[str, typer.Option("--url", help="The NATS server.")] = "nats://127.0.0.1:4222",
    subject: Annotated[str, typer.Option("--subject", help="The subject documents are published on.")] = (
        "pgseek.documents"
    ),
    stream: Annotated[
        str, typer.Option("--stream", help="The JetStream stream holding the subject (created if missing).")
    ] = "PGSEEK",
    durable: Annotated[
        str, typer.Option("--durable", help="Durable consumer name: consumers of one name share the messages.")
    ] = "pgseek",
    batch: Annotated[int, typer.Option("--batch", min=1, max=1000, help="Messages read at once.")] = 64,
    ack_wait: Annotated[
        float, typer.Option("--ack-wait", min=1.0, help="Seconds before an unacknowledged message comes again.")
    ] = 30.0,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    workers: WorkersOpt = 1,
) -> None:
    """Consume documents (JSON records, or {"id": ..., "delete": true}) from a durable NATS JetStream subject."""
    from pgseek.sources.nats_stream import NatsStream, StreamOptions

    settings = settings_from(collection=collection, tenant=tenant)
    options = StreamOptions(url, subject, stream, durable, batch, ack_wait)

    def make(seek: AsyncSeek) -> SourceRun:
        source = NatsStream(
            seek.jobs, options, collection=settings.collection, tenant=settings.tenant, on_batch=_say_consumed
        )
        err.print(f"consuming {subject} from {url} into collection {settings.collection!r}; Ctrl-C stops")
        return source.run

    _run_source(settings, make, workers)


def _run_source(settings: Settings, make: Callable[[AsyncSeek], SourceRun], workers: int) -> None:
    """Run a source (and a worker) until a signal, or until the source stops on an error, which is raised."""
    from pgseek.seek import AsyncSeek

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncSeek(settings) as seek:
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(make(seek)(stop), name="source")]
            if workers > 0:
                tasks.append(asyncio.create_task(seek.jobs.work(concurrency=workers), name="worker"))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([*tasks, stopping], return_when="FIRST_COMPLETED")
            stop.set()
            for task in tasks:
                if not task.done():
                    task.cancel()  # a worker gives back the jobs it holds
            for task in [*tasks, stopping]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task  # re-raises what ended a source early (the broker away, a bad setting)
        err.print("stopped", highlight=False)

    asyncio.run(main())


def _say_queued(q: Queued) -> None:
    what = "scan" if q.scan else "changes"
    jobs = f" → jobs {q.jobs[0]}..{q.jobs[-1]}" if q.jobs else ""
    extra = f", {len(q.failures)} left out" if q.failures else ""
    out.print(f"{what}: queued {q.writes} writes, {q.deletes} deletes{extra}{jobs}", highlight=False)


def _say_consumed(c: Consumed) -> None:
    jobs = f" → jobs {c.jobs[0]}..{c.jobs[-1]}" if c.jobs else ""
    extra = f", {len(c.rejected)} rejected" if c.rejected else ""
    out.print(f"{c.messages} messages: queued {c.writes} writes, {c.deletes} deletes{extra}{jobs}", highlight=False)
