"""The work queue (issue 14 part 1, decision 0025): real PostgreSQL, the real model. Jobs enqueued are written by a
draining worker through the ingest pipeline; a job that keeps failing ends failed with its reason; two workers never
hold the same job; a tenant's job never writes into another tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from pgseek import AsyncSeek, Document, Seek
from pgseek.config import Settings
from pgseek.errors import InputError
from pgseek.jobs.process import Outcomes
from tests.conftest import CountingEmbedder

DOCS = [
    Document("aqueduct", "Roman aqueducts carried water across valleys on stone arches.", metadata={"era": "rome"}),
    Document("bees", "Honeybees tell their hive where flowers are with a waggle dance.", metadata={"era": "now"}),
    Document("glacier", "Glaciers carve U-shaped valleys as they grind rock beneath the ice.", metadata={"era": "ice"}),
]


@pytest.fixture()
def fast(settings: Settings) -> Settings:
    """Retries without waiting, a short lease: the queue's timing shrunk for tests."""
    return settings.model_copy(update={"job_backoff_s": 0.0, "job_max_attempts": 3, "worker_poll_s": 0.2})


@pytest.fixture()
def queue_seek(fast: Settings, embedder: CountingEmbedder) -> Iterator[Seek]:
    with Seek(fast, embedder=embedder) as s:
        yield s


def _ids(seek: Seek, collection: str, tenant: str = "default") -> list[str]:
    return [d.external_id for d in seek.documents(collection, tenant=tenant).documents]


def test_enqueued_documents_become_searchable_and_a_second_run_writes_nothing(
    queue_seek: Seek, embedder: CountingEmbedder
) -> None:
    ids = queue_seek.jobs.enqueue(DOCS, collection="q_basic")
    assert len(set(ids)) == 3
    assert {j.state for j in queue_seek.jobs.get(ids)} == {"pending"}
    report = queue_seek.jobs.work(drain=True)
    assert (report.jobs_done, report.jobs_failed, report.stopped) == (3, 0, False)
    jobs = queue_seek.jobs.get(ids)
    assert [j.state for j in jobs] == ["done"] * 3 and all(j.finished_at is not None for j in jobs)
    hits = queue_seek.search("bees dancing to show flowers", collection="q_basic", k=1).hits
    assert hits[0].document_id == "bees"
    embedded = embedder.texts_embedded
    # The same documents again: the jobs run, and the content hash makes them write (and embed) nothing.
    queue_seek.jobs.enqueue(DOCS, collection="q_basic")
    assert queue_seek.jobs.work(drain=True).jobs_done == 3
    assert embedder.texts_embedded == embedded


def test_metadata_only_change_embeds_nothing_and_delete_removes(queue_seek: Seek, embedder: CountingEmbedder) -> None:
    queue_seek.jobs.enqueue(DOCS, collection="q_meta")
    queue_seek.jobs.work(drain=True)
    embedded = embedder.texts_embedded
    changed = replace(DOCS[0], metadata={"era": "empire"})
    queue_seek.jobs.enqueue([changed], deletes=["glacier"], collection="q_meta")
    queue_seek.jobs.work(drain=True)
    assert embedder.texts_embedded == embedded
    assert queue_seek.document("aqueduct", collection="q_meta").metadata == {"era": "empire"}
    assert _ids(queue_seek, "q_meta") == ["aqueduct", "bees"]
    hits = queue_seek.search("Roman aqueducts", collection="q_meta", k=1).hits
    assert hits[0].document_id == "aqueduct" and hits[0].metadata == {"era": "empire"}


def test_changes_to_a_waiting_document_merge_into_its_job(queue_seek: Seek, embedder: CountingEmbedder) -> None:
    queue_seek.jobs.enqueue([DOCS[1]], collection="q_merge")
    queue_seek.jobs.work(drain=True)  # the collection made, its model's fingerprint taken
    embedded = embedder.texts_embedded
    first = queue_seek.jobs.enqueue([DOCS[0]], collection="q_merge")
    second = queue_seek.jobs.enqueue([replace(DOCS[0], text="Aqueducts of Rome, rewritten.")], collection="q_merge")
    assert first == second
    queue_seek.jobs.work(drain=True)
    assert embedder.texts_embedded == embedded + 1
    assert queue_seek.document("aqueduct", collection="q_merge").text == "Aqueducts of Rome, rewritten."


def test_a_job_that_keeps_failing_ends_failed_with_its_reason(queue_seek: Seek) -> None:
    # Only punctuation: the document has no text to index, every time.
    ids = queue_seek.jobs.enqueue([Document("empty", "   "), DOCS[1]], collection="q_fail")
    report = queue_seek.jobs.work(drain=True)
    bad, good = queue_seek.jobs.get(ids)
    assert good.state == "done"
    assert bad.state == "failed" and bad.attempts == 3
    assert bad.error is not None and "no text" in bad.error
    assert report.jobs_failed == 3
    # Retried by hand: the same reason again, attempts counted afresh.
    assert queue_seek.jobs.retry([bad.id]) == [bad.id]
    queue_seek.jobs.work(drain=True)
    assert queue_seek.jobs.get([bad.id])[0].state == "failed"
    assert queue_seek.jobs.purge(older_than_s=0, failed=True, collection="q_fail") == 2


def test_a_tenants_jobs_write_and_show_only_for_that_tenant(queue_seek: Seek) -> None:
    ids = queue_seek.jobs.enqueue(DOCS[:1], collection="q_tenants", tenant="acme")
    queue_seek.jobs.enqueue(DOCS[1:2], collection="q_tenants", tenant="globex")
    queue_seek.jobs.work(drain=True)
    assert _ids(queue_seek, "q_tenants", "acme") == ["aqueduct"]
    assert _ids(queue_seek, "q_tenants", "globex") == ["bees"]
    assert queue_seek.jobs.get(ids, tenant="globex") == []
    assert [j.tenant_id for j in queue_seek.jobs.get(ids, tenant="acme")] == ["acme"]


def test_row_level_security_refuses_a_job_for_another_tenant(database_url: str, queue_seek: Seek) -> None:
    queue_seek.jobs.enqueue(DOCS[:1], collection="q_rls", tenant="acme")
    queue_seek.jobs.work(drain=True)
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT set_config('role', 'pgseek_app', true), set_config('pgseek.tenant', 'globex', true)")
        assert conn.execute("SELECT count(*) FROM jobs WHERE collection = 'q_rls'").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO jobs (tenant_id, collection, kind, external_id) VALUES ('acme', 'q_rls', 'delete', 'x')"
            )


def test_bad_input_is_refused_before_anything_is_queued(queue_seek: Seek) -> None:
    with pytest.raises(InputError):
        queue_seek.jobs.enqueue([Document("../escape", "text")], collection="q_bad")
    with pytest.raises(InputError):
        queue_seek.jobs.enqueue(DOCS, collection="q_bad\n")
    assert queue_seek.jobs.list(collection="q_bad") == []


def test_two_workers_never_process_the_same_job(fast: Settings, embedder: CountingEmbedder) -> None:
    docs = [Document(f"doc-{i}", f"Note number {i} about topic {i % 7} and item {i * 13}.") for i in range(60)]
    small = fast.model_copy(update={"job_batch": 4})
    with Seek(small, embedder=embedder) as seek:
        ids = seek.jobs.enqueue(docs, collection="q_two")
    seen: dict[str, list[int]] = {}

    def note(worker: str, outcomes: Outcomes) -> None:
        seen.setdefault(worker, []).extend([*outcomes.done, *outcomes.failed])

    async def work() -> None:
        # Two facades, two pools, one event loop (the model's fingerprint lock is the process's): two workers.
        async with AsyncSeek(small, embedder=embedder) as one, AsyncSeek(small, embedder=embedder) as two:
            await asyncio.gather(
                one.jobs.work(drain=True, concurrency=2, on_batch=note),
                two.jobs.work(drain=True, concurrency=2, on_batch=note),
            )

    asyncio.run(work())
    processed = [job for jobs in seen.values() for job in jobs if job in set(ids)]
    assert sorted(processed) == sorted(ids)  # every job once, by one worker
    assert len(seen) == 2  # both workers had a share
    with Seek(small, embedder=embedder) as seek:
        jobs = seek.jobs.get(ids)
        assert {(j.state, j.attempts) for j in jobs} == {("done", 1)}
        assert seek.collection("q_two").documents == 60
