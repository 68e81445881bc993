"""The ``pgseek`` command: parse, call the facade, print. No business logic here.

Imports of the facade, the settings (pydantic), the database (psycopg) and the models load inside the commands that
use them: ``pgseek --help`` and the parsing of any command import none of them (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

import json
import logging
import sys
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
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from pgseek.cli_common import EXIT_INTERRUPTED, CollectionOpt, JsonOpt, TenantOpt, err, out
from pgseek.cli_common import fail as _fail
from pgseek.cli_common import open_seek as _seek
from pgseek.cli_common import run as _run
from pgseek.cli_common import settings_from as _settings
from pgseek.cli_jobs import jobs_app, print_queue, queue_json, sync_app, worker
from pgseek.cli_manage import collections_app, documents_app
from pgseek.cli_models import models_app
from pgseek.cli_ops import capacity, doctor, maintain
from pgseek.cli_partitions import partitions_app
from pgseek.cli_replica import replica_app
from pgseek.cli_sources import consume, watch
from pgseek.errors import IngestInterruptedError
from pgseek.filters import build_filter
from pgseek.types import Answer, AnswerDelta, IngestReport, SearchResult, Timings, page_label

if TYPE_CHECKING:
    from pgseek.ingest.pipeline import IngestProgress
    from pgseek.seek import Seek

app = typer.Typer(help="Retrieval on PostgreSQL + pgvector.", no_args_is_help=True, add_completion=False)
server_app = typer.Typer(help="The embedded PostgreSQL server.", no_args_is_help=True)
app.add_typer(server_app, name="server")
server_app.add_typer(replica_app, name="replica")
keys_app = typer.Typer(help="API keys of the HTTP service (each maps to one tenant).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(collections_app, name="collections")
app.add_typer(partitions_app, name="partitions")
app.add_typer(documents_app, name="documents")
app.command()(doctor)
app.command()(capacity)
app.command()(maintain)
app.command()(watch)
app.command()(consume)
app.add_typer(models_app, name="models")
app.command()(worker)
app.add_typer(sync_app, name="sync")
app.add_typer(jobs_app, name="jobs")
# The pool logs each failed reconnection attempt; the command's own one-line error says what happened instead.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

ModeOpt = Annotated[
    str, typer.Option("--mode", "-m", help="vector (semantic), keyword (full text) or hybrid (both, fused by RRF).")
]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="Metadata condition, repeatable: key=value, 'key>=3', key:in=a,b."),
]
WhereJsonOpt = Annotated[
    str | None, typer.Option("--where-json", help="JSON object the document metadata must contain.")
]


EXIT_DOCUMENTS_FAILED = 1
"""``ingest`` finished, but some documents were rejected (each is listed)."""
SOURCE_NAME_CHARS = 40


@app.command()
def init(
    chunk_partitions: Annotated[
        int | None,
        typer.Option(
            "--chunk-partitions",
            min=1,
            max=1024,
            help="Partition the chunks table by tenant into N hash buckets (only before the first ingest).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Start the database (embedded unless PGSEEK_DATABASE_URL is set), apply migrations, build any missing vector
    index, load the model."""
    with _seek() as seek:
        buckets = seek.partition_chunks(chunk_partitions) if chunk_partitions is not None else None
        indexed = seek.ensure_indexes()
        status = seek.status()
        model = seek.embedder().info
    if json_out:
        report = {"database": status.url, "model": asdict(model), "indexes_built": indexed, "chunk_partitions": buckets}
        print(json.dumps(report))
        return
    out.print(
        f"database ready: {status.url} (PostgreSQL {status.postgres_version}, pgvector {status.pgvector_version})"
    )
    if buckets is not None:
        out.print(f"chunks partitioned by tenant into {buckets} hash buckets")
    for table in indexed:
        out.print(f"vector index of {table} was missing or invalid: built it")
    out.print(f"model ready: {model.name} ({model.dimensions} dims, {model.version})")


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (recursive) or - for stdin.")],
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    glob: Annotated[str | None, typer.Option("--glob", "-g", help="Only files in folders matching this.")] = None,
    distance: Annotated[
        str | None, typer.Option("--distance", help="cosine, l2 or ip, for a collection created by this ingest.")
    ] = None,
    index: Annotated[
        str | None,
        typer.Option("--index", help="hnsw or ivfflat, for a collection created by this ingest (fixed from then on)."),
    ] = None,
    quantization: Annotated[
        str | None,
        typer.Option(
            "--quantization", help="none, halfvec or binary (HNSW built over it, re-ranked), for a new collection."
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=0,
            max=1024,
            help="For a new collection: its vectors partitioned by tenant into N hash buckets (0: one table).",
        ),
    ] = None,
    stdin_id: Annotated[
        str | None, typer.Option("--id", help="Id of the document read from - (default: stdin-<hash of its text>).")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the documents of each folder given whose file is gone.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Load, chunk, embed and store documents. Unchanged documents cost nothing; exit code 1 if any failed.

    Ctrl-C stops after the model batch in progress, keeps every document already written, and exits with 130."""
    try:
        overrides = {"distance": distance, "index_kind": index, "quantization": quantization, "partitions": partitions}
        with _seek(**overrides) as seek, _progress(enabled=not json_out and err.is_terminal) as on_progress:
            try:
                report = seek.ingest(
                    paths,
                    collection=collection,
                    tenant=tenant,
                    glob=glob,
                    progress=on_progress,
                    stdin_id=stdin_id,
                    prune=prune,
                )
            except IngestInterruptedError as exc:
                interrupted: IngestInterruptedError | None = exc
            else:
                interrupted = None
    except KeyboardInterrupt:
        # Before the run began (opening the database, loading the model) or a second Ctrl-C: no count to give.
        err.print("interrupted: stopped before counting; documents already written are kept", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if interrupted is not None:
        # After the bar and the database are closed: this is the one line the command prints.
        err.print(str(interrupted), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    if json_out:
        print(json.dumps(_report_json(report)))
    else:
        _print_report(report)
    if report.failures:
        raise typer.Exit(EXIT_DOCUMENTS_FAILED)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[IngestProgress], None] | None]:
    if not enabled:
        yield None
        return
    # The bar counts chunks embedded of the chunks known so far (documents are read as the run goes): the model's
    # work is what takes the time, so the rate and the time remaining are in chunks.
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        _RateColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[documents]} documents"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[source]}", markup=False),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=None, documents="0/0", source="")

        def update(p: IngestProgress) -> None:
            bar.update(
                task,
                completed=p.chunks_embedded,
                total=max(p.chunks_known, p.chunks_embedded) or None,
                documents=f"{p.documents_done}/{p.documents_seen}",
                source=_short_name(p.current),
            )

        yield update


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:.0f} chunks/s" if speed else "", style="progress.data.speed")


def _short_name(source: str | None) -> str:
    """A file's name without its folders, cut in the middle when long: the bar keeps to one line."""
    if not source:
        return ""
    name = Path(source).name or source
    if len(name) <= SOURCE_NAME_CHARS:
        return name
    half = (SOURCE_NAME_CHARS - 1) // 2
    return f"{name[:half]}…{name[-half:]}"


def _report_json(report: IngestReport) -> dict[str, Any]:
    return {
        "documents_seen": report.documents_seen,
        "documents_added": report.documents_added,
        "documents_updated": report.documents_updated,
        "documents_unchanged": report.documents_unchanged,
        "documents_failed": report.documents_failed,
        "chunks_embedded": report.chunks_embedded,
        "chunks_reused": report.chunks_reused,
        "documents_pruned": report.documents_pruned,
        "skipped": report.skipped_by_reason,
        "skipped_files": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        "failures": [{"path": f.path, "error": f.error} for f in report.failures],
        "seconds": round(report.seconds, 3),
        "commit_lsn": report.commit_lsn,
    }


def _reused(report: IngestReport) -> str:
    # Only when some were: a first ingest has nothing to reuse, and its line stays as it was.
    return f", {report.chunks_reused} reused" if report.chunks_reused else ""


def _print_report(report: IngestReport) -> None:
    out.print(
        f"{report.documents_seen} documents seen: {report.documents_added} added, {report.documents_updated} updated, "
        f"{report.documents_unchanged} unchanged, {report.documents_failed} failed; "
        f"{report.chunks_embedded} chunks embedded{_reused(report)} in {report.seconds:.1f}s",
        soft_wrap=True,  # one line even in a pipe, where rich would otherwise wrap at 80 columns
    )
    if report.skipped:
        counts = ", ".join(f"{count} {reason}" for reason, count in sorted(report.skipped_by_reason.items()))
        out.print(f"{len(report.skipped)} files skipped ({counts}):", highlight=False)
        for item in report.skipped:
            out.print(f"  skipped {item.path} ({item.reason})", highlight=False, markup=False, soft_wrap=True)
    if report.documents_pruned:
        out.print(f"{report.documents_pruned} documents pruned: their files are gone", highlight=False)
    for failure in report.failures:
        err.print(
            Text.assemble(("failed", "red"), f" {failure.path}: {failure.error}"), highlight=False, soft_wrap=True
        )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to search for, in your own words.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many hits.")] = 10,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop hits scoring below this.")] = None,
    mode: ModeOpt = "vector",
    filters: FilterOpt = None,
    where_json: WhereJsonOpt = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show each hit's rank and score per leg.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Search a collection: semantic, keyword or hybrid, under metadata filters."""
    with _seek() as seek:
        search_filter = build_filter(filters or [], where_json) if filters or where_json else None
        result = seek.search(
            query, k=k, collection=collection, tenant=tenant, min_score=min_score, mode=mode, filter=search_filter
        )
    if json_out:
        print(json.dumps(result.to_json(explain=explain)))
    else:
        _print_hits(query, result, explain=explain)


def _print_hits(query: str, result: SearchResult, *, explain: bool = False) -> None:
    table = Table(title=f"{query!r}", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("document")
    table.add_column("chunk", overflow="fold")
    if explain:
        table.add_column("legs (rank: score)")
    for rank, hit in enumerate(result.hits, 1):
        text = " ".join(hit.chunk.split())
        row = [
            str(rank),
            f"{hit.score:.3f}",
            _with_pages(hit.title or hit.document_id, hit.page, hit.page_end),
            text[:240] + ("…" if len(text) > 240 else ""),
        ]
        if explain:
            row.append("\n".join(f"{name} #{leg.rank}: {leg.score:.3f}" for name, leg in hit.legs.items()))
        table.add_row(*row)
    out.print(table)
    t = result.timings_ms
    fuse = f", fuse {t.fuse:.1f} ms" if result.mode == "hybrid" else ""
    plan = f" ({result.plan} scan, ~{result.estimated_rows} matching chunks)" if result.plan else ""
    fewer = "; fewer than k matched" if result.fewer_than_k else ""
    out.print(
        f"{len(result.hits)} {result.mode} hits{plan}{fewer}; embed {t.embed:.1f} ms, search {t.search:.1f} ms{fuse}, "
        f"total {t.total:.1f} ms{_load_note(t)}"
    )


def _with_pages(label: str, page: int | None, page_end: int | None) -> str:
    """A document's label with the pages a PDF chunk sits on: "manual.pdf p. 12", "manual.pdf pp. 12–13"."""
    pages = page_label(page, page_end)
    return f"{label} {pages}" if pages else label


def _load_note(t: Timings) -> str:
    return f" (model load {t.load:.0f} ms, not in total)" if t.load else ""


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in your own words.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Chunks to retrieve for the context.")] = 8,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    mode: ModeOpt = "hybrid",
    filters: FilterOpt = None,
    where_json: WhereJsonOpt = None,
    stream: Annotated[
        bool | None,
        typer.Option("--stream/--no-stream", help="Print the answer as it is written (default: on, off with --json)."),
    ] = None,
    generator: Annotated[
        str | None, typer.Option("--generator", help="extractive (offline) or openai (PGSEEK_GENERATOR).")
    ] = None,
    openai_base_url: Annotated[
        str | None, typer.Option("--openai-base-url", help="Chat Completions server, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    openai_model: Annotated[str | None, typer.Option("--openai-model", help="Model name on that server.")] = None,
    openai_api_key: Annotated[
        str | None, typer.Option("--openai-api-key", help="API key (better: PGSEEK_OPENAI_API_KEY).")
    ] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (0).")] = None,
    context_tokens: Annotated[
        int | None, typer.Option("--context-tokens", help="Token budget of the context (2000).")
    ] = None,
    refusal_threshold: Annotated[
        float | None, typer.Option("--refusal-threshold", help="Refuse below this best similarity (0.25).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from your documents, citing them by number; says so when they do not answer it."""
    overrides = {
        "generator": generator,
        "openai_base_url": openai_base_url,
        "openai_model": openai_model,
        "openai_api_key": openai_api_key,
        "openai_temperature": temperature,
        "context_tokens": context_tokens,
        "refusal_threshold": refusal_threshold,
    }
    streaming = stream if stream is not None else not json_out
    with _seek(**overrides) as seek:
        search_filter = build_filter(filters or [], where_json) if filters or where_json else None
        options: dict[str, Any] = {
            "k": k,
            "mode": mode,
            "collection": collection,
            "tenant": tenant,
            "filter": search_filter,
        }
        if not streaming:
            answer = seek.ask(question, **options)
        else:
            answer = _stream_answer(seek, question, options, echo=not json_out)
    if json_out:
        print(json.dumps(answer.to_json()))
        return
    if not streaming:
        out.print(answer.text, markup=False, highlight=False)
    _print_answer_footer(answer)


def _stream_answer(seek: Seek, question: str, options: dict[str, Any], *, echo: bool) -> Answer:
    for event in seek.ask_stream(question, **options):
        if isinstance(event, AnswerDelta):
            if echo:
                sys.stdout.write(event.text)
                sys.stdout.flush()
        else:
            if echo:
                sys.stdout.write("\n")
            return event
    raise AssertionError("an answer stream always ends with its Answer")


def _print_answer_footer(answer: Answer) -> None:
    if answer.dropped_markers:
        markers = ", ".join(f"[{m}]" for m in answer.dropped_markers)
        err.print(f"note: dropped {markers}: the model cited sources it was not given", markup=False, highlight=False)
    if answer.citations:
        out.print("\nSources:")
        for c in answer.citations:
            where = f" — {_with_pages(c.source, c.page, c.page_end)}" if c.source else ""
            out.print(
                f"[{c.marker}] {c.title or c.document_id}{where} (score {c.score:.3f})", markup=False, highlight=False
            )
    t = answer.timings_ms
    out.print(
        f"{answer.model}; embed {t.embed:.1f} ms, search {t.search + t.fuse:.1f} ms, generate {t.generate:.1f} ms, "
        f"total {t.total:.1f} ms{_load_note(t)}",
        style="dim",
        highlight=False,
    )


@app.command()
def status(json_out: JsonOpt = False) -> None:
    """The database, its versions, collections, counts and vector indexes; the work queue and its live workers."""
    with _seek() as seek:
        st = seek.status()
        queue = seek.jobs.status()
    if json_out:
        print(json.dumps({**asdict(st), **queue_json(queue)}, default=str))
        return
    kind = "embedded" if st.embedded else "PGSEEK_DATABASE_URL"
    out.print(f"database ({kind}): {st.url}")
    out.print(
        f"PostgreSQL {st.postgres_version}, pgvector {st.pgvector_version}, shared_buffers {st.shared_buffers}, "
        f"maintenance_work_mem {st.maintenance_work_mem}"
    )
    table = Table("collection", "documents", "chunks", "model", "distance")
    for c in st.collections:
        table.add_row(c.name, str(c.documents), str(c.chunks), f"{c.model or '-'} ({c.dimensions or '-'}d)", c.distance)
    out.print(table)
    indexes = Table("table", "index", "method", "size")
    for i in st.indexes:
        indexes.add_row(i.table, i.name, i.method, f"{i.size_bytes / 1e6:.1f} MB")
    out.print(indexes)
    print_queue(queue)
    for r in st.replicas:
        lag = "-" if r.lag_seconds is None else f"{r.lag_seconds:.2f} s, {r.lag_bytes} bytes"
        state = "in rotation" if r.healthy else f"out of rotation ({r.problem})"
        out.print(f"read replica {r.url}: {state}, behind by {lag}")


@app.command("eval")
def eval_(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR dataset folder, a golden-set .jsonl file, or an answer-suite .jsonl file.")
    ],
    mode: Annotated[str, typer.Option("--mode", "-m", help="vector, keyword, hybrid or all.")] = "all",
    k: Annotated[int, typer.Option("-k", "--k", help="Cut-off for nDCG, MRR and recall.")] = 10,
    split: Annotated[str, typer.Option("--split", help="BEIR qrels split (qrels/<split>.tsv).")] = "test",
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    ann: Annotated[bool, typer.Option("--ann", help="Also probe HNSW recall against exact search.")] = False,
    rag: Annotated[
        bool, typer.Option("--rag", help="Also judge answers with citations (DATASET/rag_dev_claims.jsonl).")
    ] = False,
    rag_claims: Annotated[
        Path | None, typer.Option("--rag-claims", help="RAG claims file (implies --rag); see docs/evaluation.md.")
    ] = None,
    rag_k: Annotated[int, typer.Option("--rag-k", help="Chunks retrieved per answer.")] = 8,
    rag_mode: Annotated[str, typer.Option("--rag-mode", help="Search mode of the answers.")] = "hybrid",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the JSON report and PNG charts.")] = Path(
        "eval-results"
    ),
    json_out: JsonOpt = False,
) -> None:
    """Score retrieval on a BEIR dataset or your golden set: nDCG@k, MRR@k, Recall@k, Recall@100, latency;
    with --rag, also the answers: gold citations, citation precision, evidence sentences, refusals. An answer suite
    (questions with "answers" or "answerable": false) is asked with --rag-k/--rag-mode and its answers judged."""
    from pgseek.evaluate import is_answer_suite, load_beir, load_golden, load_rag_claims, plot_ann, plot_report

    if dataset.is_file() and is_answer_suite(dataset):
        _eval_answers(dataset, collection, tenant, rag_k, rag_mode, out_dir, json_out)
        return
    modes = ("vector", "keyword", "hybrid") if mode == "all" else (mode,)
    claims_path = rag_claims or (_default_claims(dataset) if rag else None)
    with _seek() as seek:
        data = load_golden(dataset) if dataset.is_file() else load_beir(dataset, split=split)
        claims = load_rag_claims(claims_path) if claims_path is not None else None
        with _eval_progress(enabled=not json_out and out.is_terminal) as on_progress:
            report = seek.evaluate(data, modes=modes, k=k, collection=collection, tenant=tenant, progress=on_progress)
            rag_report = None
            if claims is not None:
                rag_report = seek.evaluate_rag(
                    claims, collection=report.collection, tenant=tenant, k=rag_k, mode=rag_mode, progress=on_progress
                )
        probe = None
        if ann:
            queries = list(data.queries.values())[:100]
            probe = seek.ann_recall(queries, collection=report.collection, tenant=tenant, k=k)
    out_dir.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {
        "report": report.to_json(),
        "ann": probe.to_json() if probe else None,
        "rag": rag_report.to_json(per_claim=True) if rag_report else None,
    }
    (out_dir / f"eval-{data.name}.json").write_text(json.dumps(body, indent=2))
    charts = [plot_report(report, out_dir / f"eval-{data.name}.png")]
    if probe is not None:
        charts.append(plot_ann(probe, out_dir / f"ann-{data.name}.png"))
    if json_out:
        print(json.dumps(body))
        return
    _print_eval(report, probe)
    if rag_report is not None:
        _print_rag(rag_report)
    for path in [out_dir / f"eval-{data.name}.json", *charts]:
        err.print(f"wrote {path}")


@app.command()
def tune(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR dataset folder (qrels/<split>.tsv, qrels/test.tsv) or a golden-set .jsonl.")
    ],
    split: Annotated[
        str, typer.Option("--split", help="BEIR qrels split to fit on; qrels/test.tsv is held out for scoring.")
    ] = "train",
    k: Annotated[int, typer.Option("-k", "--k", help="nDCG cut-off the fit maximises (1 to 100).")] = 10,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the chosen setting; store nothing.")] = False,
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit the hybrid fusion (RRF k and leg weights, or a normalized score combination) on a training split, report
    nDCG@k of the held-out split before and after, and store the setting on the collection: every hybrid search and
    ask that names no fusion parameter then uses it. A BEIR corpus is ingested first (collection eval-<name>)."""
    from pgseek.evaluate.tune import load_tuning_sets

    with _seek() as seek:
        train, held_out, held_out_name = load_tuning_sets(dataset, split)
        with _eval_progress(enabled=not json_out and out.is_terminal) as on_progress:
            report = seek.tune(
                train,
                held_out,
                collection=collection,
                tenant=tenant,
                k=k,
                split=split if dataset.is_dir() else "train",
                held_out_name=held_out_name,
                store=not dry_run,
                progress=on_progress,
            )
    if json_out:
        print(json.dumps(report.to_json()))
        return
    table = Table(title=f"{report.collection}: nDCG@{report.k} by fusion setting", title_justify="left")
    table.add_column("fusion", no_wrap=True)
    for name, queries in ((report.split, report.train_queries), (report.held_out, report.held_out_queries)):
        table.add_column(f"{name} ({queries} queries)", justify="right")
    table.add_row(f"before: {report.before.describe()}", f"{report.train_before:.4f}", f"{report.held_out_before:.4f}")
    table.add_row(f"chosen: {report.chosen.describe()}", f"{report.train_after:.4f}", f"{report.held_out_after:.4f}")
    out.print(table)
    note = "hybrid searches and asks now use it" if report.stored else "not stored (--dry-run)"
    err.print(f"{report.settings_tried} settings tried on {report.split}; {note}", highlight=False)


def _eval_answers(
    path: Path, collection: str | None, tenant: str | None, k: int, mode: str, out_dir: Path, json_out: bool
) -> None:
    from pgseek.evaluate import load_answer_suite, plot_answers

    with _seek() as seek:
        suite = load_answer_suite(path)
        with _eval_progress(enabled=not json_out and out.is_terminal) as on_progress:
            report = seek.evaluate_answers(
                suite, collection=collection, tenant=tenant, k=k, mode=mode, progress=on_progress
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    body = report.to_json()
    written = [out_dir / f"answers-{suite.name}.json", out_dir / f"answers-{suite.name}.png"]
    written[0].write_text(json.dumps(body, indent=2))
    plot_answers(report, written[1])
    if json_out:
        print(json.dumps(body))
        return
    answerable = body["answerable"]
    table = Table(
        title=f"answers: {report.generator}, {report.mode} k={report.k} ({report.suite}, {report.collection})",
        title_justify="left",
    )
    for column in ("answer accuracy", "refusal accuracy", "false refusals", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{report.answer_accuracy:.3f} (of {answerable})",
        f"{report.refusal_accuracy:.3f} (of {body['unanswerable']})",
        str(body["false_refusals"]),
        f"{report.latency_p50_ms:.1f}",
        f"{report.latency_p99_ms:.1f}",
    )
    out.print(table)
    for label, key in (
        ("partial", "partial"),
        ("wrong", "wrong"),
        ("answered, should refuse", "answered_unanswerable"),
    ):
        if body[key]:
            out.print(f"{label}: {', '.join(body[key])}", highlight=False)
    for written_path in written:
        err.print(f"wrote {written_path}")


def _default_claims(dataset: Path) -> Path:
    path = dataset / "rag_dev_claims.jsonl"
    if not path.is_file():
        _fail(f"--rag: {path} is missing; give the claims file with --rag-claims FILE")
    return path


def _print_rag(report: Any) -> None:
    s = report.scores
    table = Table(
        title=f"answers: {report.generator}, {report.mode} k={report.k} ({report.dataset}, {s.claims} claims)",
        title_justify="left",
    )
    for column in ("cites gold", "citation precision", "evidence sentence", "refusal rate", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{s.cites_gold:.3f}",
        f"{s.citation_precision:.3f} ({s.citations} cited)",
        f"{s.evidence:.3f} (of {s.evidence_claims})",
        f"{s.refusal_rate:.3f}",
        f"{report.latency_p50_ms:.1f}",
        f"{report.latency_p99_ms:.1f}",
    )
    out.print(table)
    by_label = ", ".join(f"{label} {rate:.3f}" for label, rate in s.refusal_rate_by_label.items())
    out.print(f"refusal rate by label: {by_label}", highlight=False)


@contextmanager
def _eval_progress(enabled: bool) -> Iterator[Callable[[Any], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(p: Any) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.stage, total=p.total)
            bar.update(tasks[p.stage], completed=p.done, total=p.total)

        yield update


def _print_eval(report: Any, probe: Any) -> None:
    table = Table(title=f"{report.dataset} ({report.collection}), k={report.k}", title_justify="left")
    for column in (
        "mode",
        "queries",
        f"nDCG@{report.k}",
        f"MRR@{report.k}",
        f"Recall@{report.k}",
        "Recall@100",
        "p50 ms",
        "p99 ms",
    ):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in report.rows:
        table.add_row(
            r.mode,
            str(r.queries),
            f"{r.ndcg_at_k:.4f}",
            f"{r.mrr_at_k:.4f}",
            f"{r.recall_at_k:.4f}",
            f"{r.recall_at_100:.4f}",
            f"{r.latency_p50_ms:.1f}",
            f"{r.latency_p99_ms:.1f}",
        )
    out.print(table)
    if probe is None:
        return
    ann_table = Table(
        title=f"HNSW recall@{probe.k} vs exact ({probe.queries} queries; exact p50 "
        f"{probe.exact_latency_p50_ms:.1f} ms)",
        title_justify="left",
    )
    for column in ("ef_search", f"recall@{probe.k}", "p50 ms", "p99 ms"):
        ann_table.add_column(column, justify="right")
    for row in probe.rows:
        ann_table.add_row(
            str(row.ef_search), f"{row.recall_at_k:.4f}", f"{row.latency_p50_ms:.1f}", f"{row.latency_p99_ms:.1f}"
        )
    out.print(ann_table)


@server_app.command("status")
def server_status(json_out: JsonOpt = False) -> None:
    """Is the embedded server running, and where."""
    from pgseek.db.connect import embedded_server

    st = embedded_server(_settings()).status()
    if json_out:
        print(json.dumps({"running": st.running, "pid": st.pid, "data_dir": str(st.data_dir), "uri": st.uri}))
        return
    if st.running:
        out.print(f"running (pid {st.pid}), data in {st.data_dir}, uri {st.uri}")
    else:
        out.print(f"not running; data in {st.data_dir}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the embedded server cleanly (it starts again on the next command)."""
    from pgseek.db.connect import embedded_server
    from pgseek.db.replicas import EmbeddedReplicas

    server = embedded_server(_settings())
    EmbeddedReplicas(server).stop()  # a replica whose primary is gone would only retry its connection
    stopped = server.stop()
    out.print("stopped" if stopped else "not running")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Processes, each with its own pool and model.", min=1)
    ] = 1,
    queue_workers: Annotated[
        int | None,
        typer.Option("--queue-workers", help="Work the job queue in each process too, N batches at once.", min=0),
    ] = None,
) -> None:
    """Run the HTTP service: the /v1 API (API keys), a web page at /, OpenAPI docs at /docs, /metrics."""
    import os

    from pgseek.api.server import serve as run_server

    if queue_workers is not None:  # read by each server process's settings
        os.environ["PGSEEK_QUEUE_WORKERS"] = str(queue_workers)
    _settings()
    _check_listen(host, port)
    run_server(host=host, port=port, workers=workers)


def _check_listen(host: str, port: int) -> None:
    """Fail in one line before the server starts when it could not listen (uvicorn would log and exit 3)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(f"cannot listen on {host}:{port}: {reason}; give another --host or --port")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The tenant every request with this key acts as.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="A label, to recognise the key later.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key for a tenant; the key is printed this once (only its digest is stored)."""
    with _seek() as seek:
        made = seek.create_api_key(tenant, name=name)
    if json_out:
        print(json.dumps({"id": made.id, "key": made.key, "tenant": made.tenant}))
        return
    out.print(f"key {made.id} for tenant {made.tenant!r}{f' ({made.name})' if made.name else ''}:")
    print(made.key)
    err.print("store it now: it is not shown again. Clients send it as: Authorization: Bearer <key>")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (not the key itself).")]) -> None:
    """Revoke an API key: requests made with it get 401 from now on."""
    with _seek() as seek:
        revoked = seek.revoke_api_key(key_id)
    out.print(f"revoked {revoked.id} (tenant {revoked.tenant!r})")


@keys_app.command("list")
def keys_list(tenant: TenantOpt = None, json_out: JsonOpt = False) -> None:
    """API keys (ids, tenants, names, dates; never the keys themselves)."""
    with _seek() as seek:
        found = seek.api_keys(tenant=tenant)
    if json_out:
        print(json.dumps([asdict(k) for k in found], default=str))
        return
    table = Table("id", "tenant", "name", "created", "revoked")
    for k in found:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-"
        table.add_row(k.id, k.tenant, k.name or "-", f"{k.created_at:%Y-%m-%d %H:%M}", revoked)
    out.print(table)


@app.command()
def demo(k: Annotated[int, typer.Option("-k", help="Hits per example search.", min=1, max=1000)] = 3) -> None:
    """Ingest Python's own help topics (pydoc_data), run three example searches and answer a question with citations."""
    from pgseek import demo as demo_corpus

    with _seek() as seek, _progress(enabled=out.is_terminal) as on_progress:
        out.print(f"ingesting {len(demo_corpus.TOPICS)} Python help topics into collection '{demo_corpus.COLLECTION}'…")
        report = seek.ingest_documents(demo_corpus.documents(), collection=demo_corpus.COLLECTION, progress=on_progress)
        _print_report(report)
        for query in demo_corpus.QUERIES:
            _print_hits(query, seek.search(query, k=k, collection=demo_corpus.COLLECTION))
        out.print(Text.assemble("\n", ("ask:", "bold"), f" {demo_corpus.QUESTION}"), highlight=False)
        answer = seek.ask(demo_corpus.QUESTION, collection=demo_corpus.COLLECTION)
        out.print(answer.text, markup=False, highlight=False)
        _print_answer_footer(answer)


def main() -> None:
    _run(app)
