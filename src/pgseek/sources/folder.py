"""``pgseek watch DIR``: a folder kept in sync with a collection.

At start, every supported file under the folder is queued (unchanged ones cost a hash, not an embedding: the
content hash) and documents whose file is gone are deleted. Then file creations, changes, moves and deletions become
jobs. Events are debounced: an editor's save storm (write a temporary file, rename it over, touch it) arrives as one
set of changes, and the queue merges a change into a job still waiting for the same document anyway.

A file's document is the one ``pgseek ingest`` makes of it: the resolved absolute path is its id and source, so
``ingest`` and ``watch`` of one folder agree. A ``.jsonl`` file holds many documents, whose source is the file: when
the file goes, the documents it held go with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgseek.ingest.loaders import SUPPORTED_SUFFIXES, load_paths
from pgseek.sources.changes import Change, Delete, newest_per_document
from pgseek.types import Document, LoadFailure

if TYPE_CHECKING:
    from pgseek.seek import AsyncSeek

log = logging.getLogger("pgseek.watch")

SCAN_BATCH = 256
"""Documents queued per enqueue during the first scan: a folder of thousands of files is many short transactions."""
LIST_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Queued:
    """One batch handed to the queue: what it held and the job ids it got."""

    writes: int
    deletes: int
    jobs: tuple[int, ...]
    failures: tuple[LoadFailure, ...] = ()
    scan: bool = False


QueuedCallback = Callable[[Queued], None]


class FolderWatch:
    """Watch ``root`` for the tenant's ``collection``; ``run()`` until cancelled (or ``stop`` is set)."""

    def __init__(
        self,
        seek: AsyncSeek,
        root: Path,
        *,
        collection: str,
        tenant: str,
        debounce_ms: int = 500,
        scan: bool = True,
        on_queued: QueuedCallback | None = None,
        max_file_bytes: int | None = None,
    ) -> None:
        self._seek = seek
        self.root = root.resolve()
        self._collection = collection
        self._tenant = tenant
        self._debounce_ms = debounce_ms
        self._scan = scan
        self._on_queued = on_queued or (lambda _q: None)
        self._max_file_bytes = max_file_bytes

    async def run(self, stop: asyncio.Event | None = None, *, ready: asyncio.Event | None = None) -> None:
        """Scan, then follow changes. ``ready`` is set once the watch is in place (changes from then on are seen);
        the scan runs after that, so a file written during the scan is not missed."""
        from watchfiles import awatch

        stop = stop or asyncio.Event()
        watcher = awatch(
            self.root,
            debounce=self._debounce_ms,
            step=50,
            stop_event=stop,
            watch_filter=lambda _change, path: self._wanted(Path(path)),
            yield_on_timeout=True,
            rust_timeout=200,
        )
        changes: AsyncIterator[set[tuple[Any, str]]] = watcher.__aiter__()
        # The first step of the iterator starts the Rust watcher; with yield_on_timeout it returns (empty) once the
        # watch is set up, so that the scan below cannot race with changes nobody watched yet.
        await changes.__anext__()
        if ready is not None:
            ready.set()
        if self._scan:
            await self._full_scan()
        async for batch in changes:
            if batch:
                await self._apply({Path(path) for _kind, path in batch})

    def _wanted(self, path: Path) -> bool:
        """What ``pgseek ingest`` of the folder would take: supported types, nothing hidden."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if any(part.startswith(".") for part in relative.parts):
            return False
        return path.suffix.lower() in SUPPORTED_SUFFIXES or path.is_dir() or not path.suffix

    async def _apply(self, paths: set[Path]) -> None:
        """Changed paths to changes: what exists now is (re)loaded, what is gone is deleted. The event kinds are not
        trusted: after a debounce, a file reported created may already be gone, and a move is a delete plus a create."""
        changes: list[Change] = []
        failures: list[LoadFailure] = []
        for path in sorted(paths):
            if path.is_file():
                if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                loaded = await asyncio.to_thread(self._load, [path])  # PDF and HTML parsing is CPU work
                changes += [d for d in loaded if isinstance(d, Document)]
                failures += [f for f in loaded if isinstance(f, LoadFailure)]
                if path.suffix.lower() == ".jsonl":
                    kept = {d.external_id for d in loaded if isinstance(d, Document)}
                    changes += [Delete(i) for i in await self._stored_ids(str(path), exact=True) if i not in kept]
            elif path.is_dir():
                # A folder created, moved or copied in: its files may have arrived before a watch was on it.
                loaded = await asyncio.to_thread(self._load, [path])
                changes += [d for d in loaded if isinstance(d, Document)]
                failures += [f for f in loaded if isinstance(f, LoadFailure)]
            elif not path.exists():
                # A file, or a whole folder: every document whose source was at or under it goes. A file's own id
                # is deleted even when nothing is stored yet: a job writing it may still be waiting in the queue.
                if path.suffix.lower() in SUPPORTED_SUFFIXES and path.suffix.lower() != ".jsonl":
                    changes.append(Delete(str(path)))
                changes += [Delete(i) for i in await self._stored_ids(str(path), exact=False)]
        await self._queue(changes, failures)

    def _load(self, paths: Iterable[Path]) -> list[Document | LoadFailure]:
        return list(load_paths([str(p) for p in paths], max_file_bytes=self._max_file_bytes))

    async def _full_scan(self) -> None:
        seen: set[str] = set()
        batch: list[Change] = []
        failures: list[LoadFailure] = []
        loaded = load_paths([str(self.root)], max_file_bytes=self._max_file_bytes)
        while True:
            item = await asyncio.to_thread(next, loaded, None)
            if item is None:
                break
            if isinstance(item, LoadFailure):
                failures.append(item)
                continue
            seen.add(item.external_id)
            batch.append(item)
            if len(batch) >= SCAN_BATCH:
                await self._queue(batch, failures, scan=True)
                batch, failures = [], []
        gone: list[Change] = [Delete(i) for i in await self._stored_ids(str(self.root), exact=False) if i not in seen]
        await self._queue(batch + gone, failures, scan=True)

    async def _stored_ids(self, path: str, *, exact: bool) -> list[str]:
        """Ids of the tenant's documents whose source is ``path`` (``exact``) or lies under it."""
        from pgseek.errors import NotFoundError

        ids: list[str] = []
        after: str | None = None
        prefix = path if exact else path.rstrip("/")
        while True:
            try:
                page = await self._seek.documents(
                    self._collection, tenant=self._tenant, limit=LIST_PAGE, after=after, source_prefix=prefix
                )
            except NotFoundError:  # the tenant has no such collection yet: nothing stored to delete
                return ids
            for doc in page.documents:
                source = doc.source or ""
                if source == path or (not exact and source.startswith(prefix + "/")):
                    ids.append(doc.external_id)
            if page.next_after is None:
                return ids
            after = page.next_after

    async def _queue(self, changes: list[Change], failures: list[LoadFailure], *, scan: bool = False) -> None:
        for failure in failures:
            log.warning("left out %s: %s", failure.path, failure.error)
        if not changes and not failures:
            return
        writes, deletes = newest_per_document(changes)
        jobs: list[int] = []
        if writes or deletes:
            jobs = await self._seek.jobs.enqueue(
                writes, deletes=deletes, collection=self._collection, tenant=self._tenant
            )
        self._on_queued(Queued(len(writes), len(deletes), tuple(jobs), tuple(failures), scan))
