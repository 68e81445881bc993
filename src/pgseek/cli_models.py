"""``pgseek models``: a collection's embedding versions (decision 0018): list, add a candidate, follow or resume its
backfill, compare it with the active version, activate it, roll back, retire. Each command is one call of
``seek.models``; the library's errors come out as the usual one line and exit code (``cli_common.run``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pgseek.cli_common import CollectionOpt, JsonOpt, TenantOpt, err, fail, open_seek, out, settings_from

if TYPE_CHECKING:  # the facade loads where a command runs (decision 0015)
    from pgseek.seek import Seek
    from pgseek.versions.backfill import BackfillProgress, BackfillReport
    from pgseek.versions.compare import Comparison
    from pgseek.versions.manage import VersionInfo

models_app = typer.Typer(
    help="A collection's embedding versions: add a model or chunking, backfill, compare, activate, roll back.",
    no_args_is_help=True,
)

VersionOpt = Annotated[int | None, typer.Option("--version", "-v", help="The version's id (see pgseek models list).")]
ToleranceOpt = Annotated[
    float | None,
    typer.Option("--tolerance", help="nDCG@10 the candidate may lose against the active version (0.01).", min=0),
]
LOG_EVERY_S = 5.0
"""Without a terminal (a log file, a pipe): one progress line this often."""


def _json(value: Any) -> None:
    print(json.dumps(value, default=str))


def _version_json(info: VersionInfo) -> dict[str, Any]:
    return {**asdict(info), "backfill_stopped": info.backfill_stopped}


def _tolerance(value: float | None) -> float:
    from pgseek.versions.manage import DEFAULT_TOLERANCE

    return DEFAULT_TOLERANCE if value is None else value


@models_app.command("list")
def models_list(collection: CollectionOpt = None, json_out: JsonOpt = False) -> None:
    """Every version of the collection, retired ones included: state, model, chunking, documents, chunks."""
    with open_seek() as seek:
        found = seek.models.list(collection)
    if json_out:
        _json([_version_json(v) for v in found])
        return
    table = Table("id", "state", "chunking", "documents", "chunks", "index", "model", "dims", "precision")
    for v in found:
        live = v.state != "retired"
        table.add_row(
            f"v{v.id}",
            v.state,
            f"{v.chunk_tokens}/{v.chunk_overlap}",
            f"{v.documents_done}/{v.documents_total}" if live else "-",
            str(v.chunks) if live else "-",
            "ready" if v.index_ready else "-",
            v.model,
            str(v.dimensions),
            v.precision,
        )
    out.print(table)


@models_app.command("status")
def models_status(collection: CollectionOpt = None, version: VersionOpt = None, json_out: JsonOpt = False) -> None:
    """One version (default: the candidate, else the active one): state, backfill progress, index, last comparison."""
    with open_seek() as seek:
        info = seek.models.status(collection, version)
    if json_out:
        _json(_version_json(info))
        return
    _print_status(info)


def _print_status(v: VersionInfo) -> None:
    def line(text: str) -> None:
        out.print(text, highlight=False, soft_wrap=True)

    line(f"version {v.id} of collection {v.collection!r}: {v.state}")
    line(f"model: {v.model} ({v.provider}, {v.dimensions} dims, {v.precision}, {v.model_version})")
    line(f"chunking: {v.chunk_tokens} tokens, {v.chunk_overlap} overlap")
    if v.state == "retired":
        line(f"retired at {v.retired_at:%Y-%m-%d %H:%M}: its table was dropped")
        return
    line(f"documents: {v.documents_done}/{v.documents_total}, chunks: {v.chunks}")
    line(f"backfill: {_backfill_state(v)}")
    line(f"index: {'ready' if v.index_ready else 'not built yet'}")
    if v.comparison:
        line(f"last comparison ({v.comparison.get('at', '?')}): {v.comparison.get('verdict', '?')}")
    elif v.state == "candidate":
        line("last comparison: none yet (pgseek models compare DATASET)")


def _backfill_state(v: VersionInfo) -> str:
    resume = f"pgseek models backfill --collection {v.collection} --version {v.id}"
    if v.backfill_running:
        return "running"
    if v.backfill_stopped:
        return f"stopped before its end; resume it with: {resume}"
    if v.backfilled_at is not None:
        return f"done at {v.backfilled_at:%Y-%m-%d %H:%M}"
    return "not running"


@models_app.command("add")
def models_add(
    collection: CollectionOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="Embedding model (default: the active one's).")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="sentence-transformers, openai or a plugin's name.")
    ] = None,
    chunk_tokens: Annotated[
        int | None, typer.Option("--chunk-tokens", help="Tokens per chunk (default: the active version's).")
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option("--chunk-overlap", help="Tokens shared by neighbouring chunks (default: active's).")
    ] = None,
    precision: Annotated[
        str | None, typer.Option("--precision", help="auto, float32 or float16 (halfvec) storage of the vectors.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Backfill here, with a progress bar, instead of in the background.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add a candidate version and start its backfill: in the background (a detached process, logging to a file
    under PGSEEK_HOME) or, with --wait, here. Prints the new version's id. Searches keep the active version."""
    with open_seek() as seek:
        added = seek.models.add(
            collection,
            provider=provider,
            model=model,
            precision=precision,
            chunk_tokens=chunk_tokens,
            chunk_overlap=chunk_overlap,
        )
        if not json_out:
            out.print(
                f"added version {added.id} of collection {added.collection!r} (candidate): {added.model} "
                f"({added.provider}, {added.precision}), {added.chunk_tokens}-token chunks",
                highlight=False,
                soft_wrap=True,
            )
        if wait:
            report = _run_backfill(seek, added.collection, added.id, json_out)
            if json_out:
                _json({"version": _version_json(seek.models.status(added.collection, added.id)), **_report(report)})
            return
        log = _log_path(seek.settings.home, added.id)
        pid = _start_background(added.collection, added.id, log)
    if json_out:
        _json({"version": _version_json(added), "backfill": {"pid": pid, "log": str(log)}})
        return
    out.print(f"backfill running in the background: pid {pid}, log {log}", highlight=False, soft_wrap=True)
    out.print(f"follow it with: pgseek models status --collection {added.collection}", highlight=False, soft_wrap=True)


def _log_path(home: Path, version: int) -> Path:
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"backfill-{version}.log"


def _start_background(collection: str, version: int, log: Path) -> int:
    """``pgseek models backfill`` as a process of its own session: closing the terminal or Ctrl-C here leaves it
    running; killed, it is resumed by the same command."""
    command = [sys.executable, "-m", "pgseek", "models", "backfill", "--collection", collection]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--version", str(version)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return process.pid


@models_app.command("backfill")
def models_backfill(collection: CollectionOpt = None, version: VersionOpt = None, json_out: JsonOpt = False) -> None:
    """Run, or resume, a candidate's backfill here to its end (index included), with a progress bar. A backfill
    killed at any point (kill -9 too) resumes where it stopped, writing no document twice."""
    # A lower priority, taken before any thread starts (Linux gives each thread its own, inherited when it is
    # created): a search served from this machine takes the CPU first, and the backfill uses what is left
    # (bench/bench_versions.py measures both).
    nice = settings_from().backfill_nice
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    with open_seek() as seek:
        chosen = version if version is not None else seek.models.status(collection).id
        report = _run_backfill(seek, collection, chosen, json_out)
    if json_out:
        _json(_report(report))


def _report(report: BackfillReport) -> dict[str, Any]:
    return {"backfill": asdict(report)}


def _run_backfill(seek: Seek, collection: str | None, version: int, json_out: bool) -> BackfillReport:
    with _backfill_progress(enabled=not json_out) as on_progress:
        report = seek.models.backfill(collection, version, progress=on_progress)
    if not json_out:
        out.print(
            f"version {report.version} backfilled: {report.documents_written} documents and {report.chunks_written} "
            f"chunks written by this run ({report.documents_total} documents in all) in {report.seconds:.1f}s, "
            f"index built in {report.index_seconds:.1f}s",
            highlight=False,
            soft_wrap=True,
        )
    return report


@contextmanager
def _backfill_progress(enabled: bool) -> Iterator[Callable[[BackfillProgress], None] | None]:
    """The bar of ``pgseek ingest``, counting documents (what resumes) with the chunks' rate; without a terminal
    (a background run's log file), a line every few seconds."""
    if not enabled:
        yield None
        return
    if not err.is_terminal:
        yield _progress_lines()
        return
    columns = (
        TextColumn("{task.fields[stage]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("documents"),
        TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]}", style="progress.data.speed"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("backfill", total=None, stage="embedding", chunks=0, rate="")

        def update(p: BackfillProgress) -> None:
            bar.update(
                task,
                completed=p.documents_done,
                total=p.documents_total or None,
                stage=p.stage,
                chunks=p.chunks_written,
                rate=f"{p.rate:.0f} chunks/s" if p.rate else "",
            )

        yield update


def _progress_lines() -> Callable[[BackfillProgress], None]:
    # When the last line was printed, its stage, and the documents done before this run (a resumed backfill's pace
    # counts only what this run writes).
    last: list[Any] = [0.0, "", None]

    def update(p: BackfillProgress) -> None:
        if last[2] is None:
            last[2] = p.documents_done
        now = time.monotonic()
        if p.stage == last[1] and now - last[0] < LOG_EVERY_S:
            return
        last[:2] = [now, p.stage]
        written = p.documents_done - last[2]
        eta = ""
        if p.stage == "embedding" and written > 0:
            eta = f", about {(p.documents_total - p.documents_done) * p.seconds / written:.0f}s left"
        err.print(
            f"version {p.version} {p.stage}: {p.documents_done}/{p.documents_total} documents, {p.chunks_written} "
            f"chunks written, {p.rate:.0f} chunks/s{eta}",
            highlight=False,
            soft_wrap=True,
        )

    return update


@models_app.command("compare")
def models_compare(
    dataset: Annotated[
        Path | None,
        typer.Argument(help="A golden-set .jsonl or a BEIR folder whose documents are in the collection."),
    ] = None,
    collection: CollectionOpt = None,
    version: VersionOpt = None,
    mode: Annotated[str, typer.Option("--mode", "-m", help="vector, keyword or hybrid.")] = "vector",
    split: Annotated[str, typer.Option("--split", help="BEIR qrels split (qrels/<split>.tsv).")] = "test",
    sample: Annotated[int, typer.Option("--sample", help="Recent searches to replay on both (0 to 1000).")] = 50,
    tolerance: ToleranceOpt = None,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the candidate and the active version side by side: nDCG@10, Recall@100 and latency on DATASET, top-10
    overlap on recent searches; print the verdict (stored on the candidate, where activate reads it)."""
    with open_seek() as seek, _compare_progress(enabled=not json_out and err.is_terminal) as on_progress:
        result = seek.models.compare(
            dataset,
            collection=collection,
            version=version,
            mode=mode,  # type: ignore[arg-type]  # the library checks it and says what is allowed
            tenant=tenant,
            split=split,
            sample=sample,
            tolerance=_tolerance(tolerance),
            progress=on_progress,
        )
    if json_out:
        _json({"collection": result.collection, "mode": mode, **result.as_record()})
        return
    _print_comparison(result, mode)


@contextmanager
def _compare_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("comparing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("compare", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_comparison(c: Comparison, mode: str) -> None:
    a, b = c.active, c.candidate
    source = f"{c.dataset}, {c.queries} queries" if c.dataset else "no dataset"
    table = Table(
        title=f"{c.collection}: candidate v{b.version} against active v{a.version} ({mode}; {source})",
        title_justify="left",
    )
    table.add_column("metric")
    for column in (f"active v{a.version}", f"candidate v{b.version}", "delta"):
        table.add_column(column, justify="right")

    def figure(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def delta(x: float | None, y: float | None, digits: int = 4) -> str:
        return "-" if x is None or y is None else f"{y - x:+.{digits}f}"

    table.add_row("nDCG@10", figure(a.ndcg_at_10), figure(b.ndcg_at_10), delta(a.ndcg_at_10, b.ndcg_at_10))
    table.add_row(
        "Recall@100", figure(a.recall_at_100), figure(b.recall_at_100), delta(a.recall_at_100, b.recall_at_100)
    )
    table.add_row("p50 ms", figure(a.p50_ms, 1), figure(b.p50_ms, 1), delta(a.p50_ms, b.p50_ms, 1))
    table.add_row("p99 ms", figure(a.p99_ms, 1), figure(b.p99_ms, 1), delta(a.p99_ms, b.p99_ms, 1))
    overlap = "-" if c.top10_overlap is None else f"{c.top10_overlap:.0%}"
    table.add_row(f"top-10 overlap ({c.recent_queries} recent searches)", "", "", overlap)
    out.print(table)
    out.print(f"verdict: {c.verdict}", highlight=False, soft_wrap=True)


@models_app.command("activate")
def models_activate(
    collection: CollectionOpt = None,
    version: VersionOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Activate without a comparison, or one that found it worse.")
    ] = False,
    tolerance: ToleranceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the candidate the active version, in one transaction; the active one becomes the previous version and
    keeps receiving writes, so that pgseek models rollback is instant."""
    with open_seek() as seek:
        info = seek.models.activate(collection, version, force=force, tolerance=_tolerance(tolerance))
    if json_out:
        _json(_version_json(info))
        return
    out.print(
        f"version {info.id} is now the active version of collection {info.collection!r}; the one before stays as the "
        "previous version (pgseek models rollback) until it is retired",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("rollback")
def models_rollback(collection: CollectionOpt = None, json_out: JsonOpt = False) -> None:
    """Make the previous version active again, in one transaction (rolling back again rolls forward)."""
    with open_seek() as seek:
        info = seek.models.rollback(collection)
    if json_out:
        _json(_version_json(info))
        return
    out.print(
        f"rolled back: version {info.id} is the active version of collection {info.collection!r} again",
        highlight=False,
        soft_wrap=True,
    )


@models_app.command("retire")
def models_retire(
    collection: CollectionOpt = None,
    version: VersionOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really drop the version's table and chunks.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Retire the previous version (or --version, a previous or candidate one): drop its vector table and delete its
    chunks. Refused without --yes: it cannot be undone."""
    if not yes:
        which = f"version {version}" if version is not None else "the previous version"
        fail(f"retiring {which} drops its vector table and chunks for good: add --yes to do it")
    with open_seek() as seek:
        info = seek.models.retire(collection, version)
    if json_out:
        _json(_version_json(info))
        return
    out.print(
        f"retired version {info.id} of collection {info.collection!r}: its table and chunks are gone",
        highlight=False,
        soft_wrap=True,
    )
