"""``pgseek doctor`` and ``pgseek maintain``: the vector indexes and tables after day one (docs/operations.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from pgseek.cli_common import CollectionOpt, JsonOpt, open_seek, out

if TYPE_CHECKING:
    from pgseek.ops.findings import DoctorReport
    from pgseek.ops.maintain import MaintainReport

EXIT_PROBLEM = 1
"""``doctor`` found a problem (``--strict``: a warning too); ``maintain --apply``: a fix failed."""
_STYLES = {"ok": "green", "warn": "yellow", "problem": "bold red", "planned": "", "done": "green", "failed": "bold red"}


def doctor(
    collection: CollectionOpt = None,
    recall: Annotated[
        bool, typer.Option("--recall/--no-recall", help="Measure recall@10 against exact search (seconds).")
    ] = True,
    queries: Annotated[
        int, typer.Option("--queries", help="Sample queries per tenant size bucket.", min=1, max=1000)
    ] = 20,
    target: Annotated[
        float, typer.Option("--target", help="The recall@10 to reach; the report names the ef_search that does.")
    ] = 0.95,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on a warning too, not only on a problem.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check versions, vector indexes, memory, dead rows, autovacuum and recall; say what to do. Exit 1 on a
    problem (for cron and CI)."""
    with open_seek() as seek:
        report = seek.doctor(collection, recall=recall, queries=queries, target=target)
    if json_out:
        print(json.dumps(report.to_json()))
    else:
        _print_doctor(report)
    if report.status == "problem" or (strict and report.status == "warn"):
        raise typer.Exit(EXIT_PROBLEM)


def _line(status: str, text: str) -> None:
    out.print(Text.assemble((f"{status:<8}", _STYLES[status]), " ", text), highlight=False, soft_wrap=True)


def _print_doctor(report: DoctorReport) -> None:
    # Lines, not a table: a message and its advice stay whole (and the advice's commands copyable) at any width.
    for f in report.findings:
        _line(f.severity, f"{f.check:<16} {f.subject}: {f.message}")
        if f.advice:
            out.print(f"{'':8} → {f.advice}", highlight=False, soft_wrap=True)
    if report.recall:
        recall = Table(title=f"recall@10 against exact search (target {report.recall[0].target})", title_justify="left")
        for column in ("collection", "bucket", "tenants", "queries", "ef_search", "recall@10", "ef to target"):
            recall.add_column(column, justify="left" if column in {"collection", "bucket"} else "right")
        for b in report.recall:
            reaching = str(b.ef_to_target) if b.ef_to_target is not None else "-"
            tenants = f"{b.tenants_sampled} of {b.tenants}" if b.queries else str(b.tenants)
            row = (b.collection, b.bucket, tenants, str(b.queries), str(b.ef_search), f"{b.recall_at_10:.3f}", reaching)
            recall.add_row(*row)
        out.print(recall)
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("problem", "warn")}
    summary = f"status: {report.status} ({counts['problem']} problem(s), {counts['warn']} warning(s))"
    out.print(Text(summary, style=_STYLES[report.status]))


def maintain(
    collection: CollectionOpt = None,
    apply: Annotated[bool, typer.Option("--apply", help="Run the fixes (default: only list them).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """The online fixes for what doctor finds: REINDEX INDEX CONCURRENTLY, VACUUM (ANALYZE), autovacuum scale
    factors, missing indexes, pg_prewarm. A dry run unless --apply; safe while searches run."""
    with open_seek() as seek:
        report = seek.maintain(collection, apply=apply)
    if json_out:
        print(json.dumps(report.to_json()))
    else:
        _print_maintain(report)
    if report.failed:
        raise typer.Exit(EXIT_PROBLEM)


def _print_maintain(report: MaintainReport) -> None:
    if not report.actions:
        out.print("nothing to do")
        return
    for a in report.actions:
        seconds = f" in {a.seconds:.2f} s" if a.seconds is not None else ""
        _line(a.status, f"{a.kind:<12} {a.subject} ({a.reason}){seconds}")
        out.print(f"{'':8} {a.statement};", highlight=False, soft_wrap=True)
        if a.error is not None:
            out.print(f"{'':8} {a.error}", highlight=False, soft_wrap=True)
    if not report.applied:
        out.print(f"dry run: {len(report.actions)} action(s); pgseek maintain --apply runs them")


def capacity(
    p99_target: Annotated[
        float, typer.Option("--p99-target", help="The p99 latency target of a vector search, in milliseconds.")
    ] = 100.0,
    queries: Annotated[int, typer.Option("--queries", help="Searches to measure p50/p99 with.", min=1, max=1000)] = 50,
    json_out: JsonOpt = False,
) -> None:
    """Where this deployment stands now and at 10x and 100x its vectors: the vector index against memory, p99
    against its target, the vector count against the ranges where pgvector stays right (docs/capacity.md)."""
    with open_seek() as seek:
        report = seek.capacity(p99_target_ms=p99_target, queries=queries)
    if json_out:
        print(json.dumps(report.to_json()))
        return
    from pgseek.ops.capacity import size_text  # where used, as the report's types: the CLI starts light

    m = report.measured
    out.print(
        f"measured: {m.vectors:,} vectors ({m.dimensions} dims, {m.collections} collection(s)); vector indexes "
        f"{size_text(m.index_bytes)}; shared_buffers {size_text(m.shared_buffers_bytes)}; {m.memory_source} "
        f"{size_text(m.memory_bytes)}; p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms over {m.queries} searches; "
        f"about {m.throughput_qps:,.0f} searches/s ({m.parallel} at once)",
        highlight=False,
        soft_wrap=True,
    )
    where = " on the primary's machine" if m.replicas_share_machine else ""
    out.print(
        f"scale-out: {m.read_replicas} read replica(s){where}, {m.replicas_in_rotation} in rotation; "
        f"{m.partitioned_collections} collection(s) partitioned by tenant; largest graph a search walks "
        f"{size_text(m.largest_graph_bytes)}, {size_text(m.tenant_graph_bytes)} by tenant (largest tenant "
        f"{m.largest_tenant_vectors:,} vectors)",
        highlight=False,
        soft_wrap=True,
    )
    for s in report.scenarios:
        out.print(
            Text.assemble(
                (f"{'now' if s.factor == 1 else f'{s.factor}x':<5}", "bold"),
                f" {s.range}: {s.verdict}",
                ("\n      next step: ", "bold"),
                s.next_step,
            ),
            highlight=False,
            soft_wrap=True,
        )
        for reason in s.reasons:
            out.print(f"{'':6}- {reason}", highlight=False, soft_wrap=True)
