"""``pgseek worker``, ``pgseek sync`` and ``pgseek jobs``: run the queue's workers, point collections at application
tables, and see and manage the jobs (docs/freshness.md)."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from pgseek.cli_common import CollectionOpt, JsonOpt, TenantOpt, err, open_seek, out

if TYPE_CHECKING:
    from pgseek.jobs import Job, QueueReport, SyncSource

sync_app = typer.Typer(help="Keep a collection current with an application table.", no_args_is_help=True)
jobs_app = typer.Typer(help="The work queue's jobs: list, retry, purge.", no_args_is_help=True)
TableOpt = Annotated[str, typer.Option("--table", help="The application's table, in pgseek's database (schema.table).")]


def _json(value: Any) -> None:
    print(json.dumps(value, default=str))


def _stop_on_sigterm() -> None:
    """SIGTERM stops a worker as Ctrl-C does: the batch in progress stops, its jobs go back to the queue."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", help="Batches processed at once.", min=1, max=64)
    ] = 1,
    drain: Annotated[bool, typer.Option("--drain", help="Process what is queued, then exit (scripts, cron).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Process the work queue until stopped (SIGTERM, Ctrl-C: the jobs held go back to the queue), or with --drain
    until it is empty. Several workers on one database share the work."""
    _stop_on_sigterm()
    with open_seek() as seek:
        if not json_out:
            err.print(f"worker started (concurrency {concurrency}{', draining' if drain else ''})", highlight=False)
        report = seek.jobs.work(concurrency=concurrency, drain=drain)
    if json_out:
        _json(asdict(report))
        return
    how = "stopped" if report.stopped else "drained"
    released = f", {report.released} jobs given back" if report.released else ""
    out.print(
        f"{how}: {report.jobs_done} jobs done, {report.jobs_failed} failed attempts in {report.seconds:.1f} s"
        f"{released}",
        highlight=False,
    )


# --- pgseek sync ------------------------------------------------------------------------------------------------


def _source_json(source: SyncSource) -> dict[str, Any]:
    return asdict(source)


@sync_app.command("add")
def sync_add(
    table: TableOpt,
    id_column: Annotated[str, typer.Option("--id-column", help="The row's key: the document's id.")],
    text_column: Annotated[str, typer.Option("--text-column", help="The text that is embedded.")],
    title_column: Annotated[str | None, typer.Option("--title-column", help="The document's title.")] = None,
    metadata_column: Annotated[
        list[str] | None, typer.Option("--metadata-column", help="A column kept as metadata (repeatable).")
    ] = None,
    tenant_column: Annotated[
        str | None, typer.Option("--tenant-column", help="Each row's tenant (null: --tenant).")
    ] = None,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Point a collection at a table: triggers queue every insert, update, delete and truncate, and the rows already
    there are queued now; `pgseek worker` writes them."""
    with open_seek() as seek:
        source, queued = seek.jobs.sync_add(
            table,
            id_column=id_column,
            text_column=text_column,
            title_column=title_column,
            metadata_columns=metadata_column or [],
            tenant_column=tenant_column,
            collection=collection,
            tenant=tenant,
        )
    if json_out:
        _json({**_source_json(source), "queued": queued})
        return
    out.print(f"{source.table_name} feeds collection {source.collection!r}: {queued} rows queued", highlight=False)


@sync_app.command("list")
def sync_list(json_out: JsonOpt = False) -> None:
    """The tables that feed collections."""
    with open_seek() as seek:
        found = seek.jobs.sync_list()
    if json_out:
        _json([_source_json(s) for s in found])
        return
    table = Table("id", "table", "collection", "key", "text", "title", "metadata", "tenant")
    for s in found:
        tenant = f"{s.tenant_column} (else {s.tenant_id})" if s.tenant_column else s.tenant_id
        metadata = ", ".join(s.metadata_columns) or "-"
        table.add_row(
            str(s.id), s.table_name, s.collection, s.id_column, s.text_column, s.title_column or "-", metadata, tenant
        )
    out.print(table)


@sync_app.command("remove")
def sync_remove(table: TableOpt, collection: CollectionOpt = None) -> None:
    """Stop syncing a table (into --collection, or into every collection): its triggers are dropped, its jobs
    forgotten; the documents stay."""
    with open_seek() as seek:
        removed = seek.jobs.sync_remove(table, collection=collection)
    for s in removed:
        out.print(f"{s.table_name} no longer feeds collection {s.collection!r}", highlight=False)


# --- pgseek jobs ------------------------------------------------------------------------------------------------


def _job_json(job: Job) -> dict[str, Any]:
    record = asdict(job)
    record.pop("payload")  # a document's whole text: not for a listing
    return record


@jobs_app.command("list")
def jobs_list(
    state: Annotated[str | None, typer.Option("--state", help="pending, running, done or failed.")] = None,
    collection: CollectionOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Most jobs shown, newest first.", min=1, max=10_000)] = 50,
    json_out: JsonOpt = False,
) -> None:
    """The queue per collection (pending, oldest pending, failed, throughput, lag), then the newest jobs."""
    with open_seek() as seek:
        report = seek.jobs.status()
        found = seek.jobs.list(state=state, collection=collection, limit=limit)
    if json_out:
        _json({**queue_json(report), "jobs": [_job_json(j) for j in found]})
        return
    print_queue(report)
    table = Table("id", "tenant", "collection", "kind", "document", "state", "tries", "enqueued", "error")
    for j in found:
        table.add_row(
            str(j.id),
            j.tenant_id,
            j.collection,
            j.kind,
            j.external_id,
            j.state if j.outcome is None else f"{j.state} ({j.outcome})",
            str(j.attempts),
            f"{j.enqueued_at:%Y-%m-%d %H:%M:%S}",
            (j.error or "")[:80],
        )
    out.print(table)


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[list[int] | None, typer.Argument(help="Failed jobs to retry (default: all failed).")] = None,
    collection: CollectionOpt = None,
) -> None:
    """Put failed jobs back in the queue with fresh attempts."""
    with open_seek() as seek:
        retried = seek.jobs.retry(job_ids or None, collection=collection)
    out.print(f"{len(retried)} failed jobs queued again", highlight=False)


@jobs_app.command("purge")
def jobs_purge(
    older_than: Annotated[float, typer.Option("--older-than", help="Hours since the job finished.", min=0)] = 24.0,
    failed: Annotated[bool, typer.Option("--failed", help="Failed jobs too (their reasons go with them).")] = False,
    collection: CollectionOpt = None,
) -> None:
    """Delete finished jobs: done ones (and failed ones with --failed) finished more than --older-than hours ago."""
    with open_seek() as seek:
        purged = seek.jobs.purge(older_than_s=older_than * 3600, failed=failed, collection=collection)
    out.print(f"{purged} jobs purged", highlight=False)


# --- shared with pgseek status ----------------------------------------------------------------------------------


def queue_json(report: QueueReport) -> dict[str, Any]:
    return {"queues": [asdict(q) for q in report.queues], "workers": [asdict(w) for w in report.workers]}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_queue(report: QueueReport) -> None:
    """The queue per collection and the live workers, as tables."""
    table = Table("collection", "pending", "running", "failed", "oldest pending", "done/s", "lag p50", "lag p99")
    for q in report.queues:
        table.add_row(
            q.collection,
            str(q.pending),
            str(q.running),
            str(q.failed),
            _seconds(q.oldest_pending_s),
            f"{q.throughput_per_s:.2f}",
            _seconds(q.lag_p50_s),
            _seconds(q.lag_p99_s),
        )
    out.print(table)
    workers = Table("worker", "concurrency", "running jobs", "done", "failed", "last beat")
    for w in report.workers:
        workers.add_row(
            w.id, str(w.concurrency), str(w.running), str(w.jobs_done), str(w.jobs_failed), f"{w.beat_at:%H:%M:%S}"
        )
    out.print(workers)
