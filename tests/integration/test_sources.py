"""Sources that feed the work queue (issue 14 part 3): a watched folder and a NATS JetStream subject. Real
PostgreSQL, the real model, a real nats-server of the test's own (JetStream on, its own store), real files."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pgseek import AsyncSeek
from pgseek.config import Settings
from pgseek.db.connect import prepare_database
from pgseek.sources.folder import FolderWatch, Queued
from pgseek.sources.nats_stream import Consumed, NatsStream, StreamOptions
from tests.conftest import CountingEmbedder

pytestmark = pytest.mark.skipif(shutil.which("nats-server") is None, reason="nats-server is not installed")

NOTES = {
    "glaciers.txt": "Glaciers carve U-shaped valleys as they grind rock beneath the ice.",
    "bees.md": "# Bees\n\nHoneybees tell their hive where flowers are with a waggle dance.",
}


@pytest.fixture()
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"job_backoff_s": 0.0, "job_max_attempts": 3, "worker_poll_s": 0.2})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A nats-server with JetStream of this test's own: its streams and consumers start empty."""
    port = _free_port()
    proc = subprocess.Popen(
        ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path / "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _stored(seek: AsyncSeek, collection: str) -> dict[str, str | None]:
    page = await seek.documents(collection, limit=1000)
    return {d.external_id: d.title for d in page.documents}


# --- a watched folder ----------------------------------------------------------------------------------------------


def test_a_watched_folder_follows_creations_changes_moves_and_deletions(
    tmp_path: Path, fast: Settings, embedder: CountingEmbedder
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    (folder / ".hidden.txt").write_text("never indexed")
    root = folder.resolve()
    queued: list[Queued] = []

    async def scenario() -> None:
        async with AsyncSeek(fast, embedder=embedder) as seek:
            collection = "watched"
            watch = FolderWatch(
                seek, folder, collection=collection, tenant="default", debounce_ms=100, on_queued=queued.append
            )
            stop, ready = asyncio.Event(), asyncio.Event()
            watching = asyncio.create_task(watch.run(stop, ready=ready))
            worker = asyncio.create_task(seek.jobs.work())
            await ready.wait()

            async def has(expected: set[str]) -> bool:
                try:
                    return set(await _stored(seek, collection)) == expected
                except Exception:
                    return False

            await _eventually(lambda: has({str(root / n) for n in NOTES}), "the scan")
            hits = (await seek.search("waggle dance of honeybees", collection=collection, k=1)).hits
            assert hits[0].document_id == str(root / "bees.md")

            # A new file, a change, a move and a deletion.
            (folder / "tides.txt").write_text("Tides rise and fall twice a day under the pull of the moon.")
            await _eventually(lambda: has({str(root / n) for n in [*NOTES, "tides.txt"]}), "the new file")
            (folder / "glaciers.txt").write_text("Glaciers are rivers of ice that flow downhill very slowly.")

            async def changed() -> bool:
                hits = (await seek.search("rivers of ice flowing downhill", collection=collection, k=1)).hits
                return bool(hits) and "rivers of ice" in hits[0].chunk

            await _eventually(changed, "the changed text")
            (folder / "sub").mkdir()
            (folder / "tides.txt").rename(folder / "sub" / "moon-tides.txt")
            await _eventually(
                lambda: has({str(root / "glaciers.txt"), str(root / "bees.md"), str(root / "sub" / "moon-tides.txt")}),
                "the move",
            )
            (folder / "bees.md").unlink()
            shutil.rmtree(folder / "sub")
            await _eventually(lambda: has({str(root / "glaciers.txt")}), "the deletions")

            # A save storm: many writes of one file within the debounce are one change.
            before = sum(q.writes for q in queued)
            for i in range(30):
                (folder / "glaciers.txt").write_text(f"Glaciers, draft {i}: ice that flows.")
            await _eventually(lambda: has({str(root / "glaciers.txt")}), "the storm")

            async def last_draft() -> bool:
                doc = await seek.document(str(root / "glaciers.txt"), collection=collection)
                return "draft 29" in doc.text

            await _eventually(last_draft, "the last draft")
            assert sum(q.writes for q in queued) - before <= 5
            stop.set()
            await watching
            worker.cancel()
            await worker

    asyncio.run(scenario())


def test_a_watch_started_later_deletes_documents_whose_files_went_meanwhile(
    tmp_path: Path, fast: Settings, embedder: CountingEmbedder
) -> None:
    folder = tmp_path / "later"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    root = folder.resolve()

    async def scenario() -> None:
        async with AsyncSeek(fast, embedder=embedder) as seek:
            await seek.ingest([folder], collection="later")
            (folder / "bees.md").unlink()
            stop, ready = asyncio.Event(), asyncio.Event()
            watch = FolderWatch(seek, folder, collection="later", tenant="default", debounce_ms=100)
            watching = asyncio.create_task(watch.run(stop, ready=ready))
            await ready.wait()
            await _eventually(lambda: _no_pending(seek), "the scan's jobs")
            report = await seek.jobs.work(drain=True)
            assert report.jobs_failed == 0
            assert set(await _stored(seek, "later")) == {str(root / "glaciers.txt")}
            stop.set()
            await watching

    asyncio.run(scenario())


async def _no_pending(seek: AsyncSeek) -> bool:
    return bool(await seek.jobs.list(state="pending", collection="later"))


# --- a NATS JetStream subject --------------------------------------------------------------------------------------


async def _publish(url: str, subject: str, payloads: list[bytes], stream: str = "PGSEEK") -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[subject])
    for payload in payloads:
        await js.publish(subject, payload)
    await nc.drain()


def _record(i: int) -> bytes:
    words = ["river", "meadow", "volcano", "harbor", "orchard", "falcon", "glacier", "reef"]
    text = f"Note {i} about the {words[i % len(words)]} and the {words[(i * 3 + 1) % len(words)]}."
    return json.dumps({"id": f"msg-{i:03d}", "title": f"Note {i}", "text": text, "metadata": {"i": i}}).encode()


async def _consume_until(
    seek: AsyncSeek, options: StreamOptions, collection: str, done: Callable[[list[Consumed]], bool]
) -> list[Consumed]:
    batches: list[Consumed] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    source = NatsStream(seek.jobs, options, collection=collection, tenant="default", on_batch=batches.append)
    task = asyncio.create_task(source.run(stop, ready=ready))
    deadline = time.monotonic() + 60
    while not done(batches):
        assert not task.done(), task.exception()
        assert time.monotonic() < deadline, f"consumed only {batches}"
        await asyncio.sleep(0.05)
    stop.set()
    await task
    return batches


def test_stream_messages_become_documents_deletes_apply_and_bad_messages_are_rejected(
    nats_url: str, fast: Settings, embedder: CountingEmbedder
) -> None:
    subject = "docs.basic"
    payloads = [_record(i) for i in range(12)]
    payloads += [
        b"not json",
        json.dumps({"id": "x", "text": 3}).encode(),
        json.dumps({"id": "msg-003", "delete": True}).encode(),
    ]

    async def scenario() -> None:
        await _publish(nats_url, subject, payloads)
        async with AsyncSeek(fast, embedder=embedder) as seek:
            options = StreamOptions(nats_url, subject, batch=5, ack_wait_s=30)
            batches = await _consume_until(seek, options, "stream", lambda b: sum(x.messages for x in b) >= 15)
            rejected = [r for b in batches for r in b.rejected]
            assert len(rejected) == 2 and "not JSON" in rejected[0] and "field 'text'" in rejected[1]
            report = await seek.jobs.work(drain=True)
            assert report.jobs_failed == 0
            stored = await _stored(seek, "stream")
            assert set(stored) == {f"msg-{i:03d}" for i in range(12)} - {"msg-003"}
            hits = (await seek.search("Note 5", collection="stream", mode="keyword", k=1)).hits
            assert hits[0].document_id == "msg-005"
        assert await _pending_acks(nats_url) == 0

    asyncio.run(scenario())


async def _pending_acks(url: str, stream: str = "PGSEEK", durable: str = "pgseek") -> int:
    import nats

    nc = await nats.connect(url)
    info = await nc.jetstream().consumer_info(stream, durable)
    await nc.drain()
    return int(info.num_ack_pending) + int(info.num_pending)


def test_a_consumer_killed_before_its_commit_loses_nothing_and_a_redelivery_applies_once(
    nats_url: str, fast: Settings, embedder: CountingEmbedder, database_url: str, pgseek_home: Path, tmp_path: Path
) -> None:
    """The consumer fetches, then blocks on the queue's table (the test holds a lock on it) and is killed with -9:
    nothing was acknowledged, so JetStream delivers every message again, and each document is written once."""
    subject = "docs.crash"
    count = 20

    async def publish() -> None:
        await _publish(nats_url, subject, [_record(i) for i in range(count)])

    asyncio.run(publish())
    asyncio.run(prepare_database(database_url))  # the jobs table exists before the test locks it
    env = {
        **os.environ,
        "PGSEEK_DATABASE_URL": database_url,
        "PGSEEK_HOME": str(pgseek_home),
        "PGSEEK_COLLECTION": "crash",
        "HF_HUB_OFFLINE": "1",
    }
    with psycopg.connect(database_url) as blocker, (tmp_path / "consume.log").open("w") as log:
        blocker.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")
        consumer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pgseek",
                "consume",
                "--url",
                nats_url,
                "--subject",
                subject,
                "--ack-wait",
                "2",
                "--workers",
                "0",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 120
            while asyncio.run(_ack_pending(nats_url)) == 0:  # fetched, not acknowledged
                assert consumer.poll() is None, (tmp_path / "consume.log").read_text()
                assert time.monotonic() < deadline, "the consumer fetched nothing"
                time.sleep(0.1)
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(10)
        finally:
            if consumer.poll() is None:
                consumer.kill()
        blocker.rollback()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM jobs WHERE collection = 'crash'").fetchone() == (0,)

    async def resume() -> None:
        async with AsyncSeek(fast, embedder=embedder) as seek:
            options = StreamOptions(nats_url, subject, batch=8, ack_wait_s=2)
            batches = await _consume_until(seek, options, "crash", lambda b: sum(x.messages for x in b) >= count)
            assert sum(x.writes for x in batches) == count
            # A redelivery's twin (the ack lost after the commit): the same content again, written once.
            await _publish(nats_url, subject, [_record(0), _record(1)])
            await _consume_until(seek, options, "crash", lambda b: sum(x.messages for x in b) >= 2)
            assert (await seek.jobs.work(drain=True)).jobs_failed == 0
            assert len(await _stored(seek, "crash")) == count
        assert await _pending_acks(nats_url) == 0

    asyncio.run(resume())
    with psycopg.connect(database_url) as conn:
        chunks = conn.execute(
            "SELECT count(*), count(DISTINCT document_id) FROM chunks WHERE collection_id = "
            "(SELECT id FROM collections WHERE name = 'crash')"
        ).fetchone()
        assert chunks == (count, count)


async def _ack_pending(url: str) -> int:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info("PGSEEK", "pgseek")
    except NotFoundError:
        return 0
    finally:
        await nc.drain()
    return int(info.num_ack_pending)


def test_consume_refuses_a_stream_without_the_subject(nats_url: str, fast: Settings) -> None:
    from pgseek.errors import BrokerError

    async def scenario() -> None:
        await _publish(nats_url, "other.subject", [], stream="OTHER")
        async with AsyncSeek(fast) as seek:
            source = NatsStream(
                seek.jobs, StreamOptions(nats_url, "docs.x", stream="OTHER"), collection="c", tenant="default"
            )
            with pytest.raises(BrokerError, match="does not hold subject"):
                await source.run()

    asyncio.run(scenario())
