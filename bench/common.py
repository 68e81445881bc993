"""Helpers shared by the benchmarks: SciFact loading, a throwaway pgseek home, result tables, JSON and plots.

Benchmarks report figures; they never assert them. Results go to ``bench/results/<name>.json`` and ``.png``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SCIFACT = (REPO / ".." / "shared" / "eval" / "scifact").resolve()


# --- data ---------------------------------------------------------------------------------------------------------


def _require_scifact() -> Path:
    needed = [SCIFACT / "corpus.jsonl", SCIFACT / "queries.jsonl", SCIFACT / "qrels" / "test.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        sys.exit(
            "SciFact is missing: the benchmarks read it from ../shared/eval/scifact relative to the repository root "
            f"({SCIFACT}).\nNot found: {', '.join(missing)}\n"
            "Put the BEIR SciFact files there (corpus.jsonl, queries.jsonl, qrels/test.tsv) and run again."
        )
    return SCIFACT


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_corpus(limit: int | None = None) -> list[dict[str, Any]]:
    """SciFact documents as dicts with ``_id``, ``title``, ``text``, ``metadata`` (first ``limit`` if given)."""
    root = _require_scifact()
    docs: list[dict[str, Any]] = []
    for row in _read_jsonl(root / "corpus.jsonl"):
        docs.append(row)
        if limit is not None and len(docs) >= limit:
            break
    return docs


def load_qrels(split: str = "test") -> dict[str, dict[str, int]]:
    """query id -> {corpus id: relevance} from ``qrels/<split>.tsv`` (which has a header row)."""
    root = _require_scifact()
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader, None)
        for query_id, corpus_id, score in reader:
            qrels.setdefault(query_id, {})[corpus_id] = int(score)
    return qrels


def load_test_queries() -> list[tuple[str, str]]:
    """(id, text) of the queries that appear in ``qrels/test.tsv`` (300 for SciFact), in file order."""
    root = _require_scifact()
    wanted = load_qrels("test")
    return [(str(q["_id"]), str(q["text"])) for q in _read_jsonl(root / "queries.jsonl") if str(q["_id"]) in wanted]


# --- environment --------------------------------------------------------------------------------------------------


@contextmanager
def bench_home() -> Iterator[Path]:
    """A pgseek home for one run: ``PGSEEK_BENCH_HOME`` if set (kept), else a fresh temporary one (removed).

    The embedded server started under it is stopped on the way out either way.
    """
    given = os.environ.get("PGSEEK_BENCH_HOME")
    home = Path(given).expanduser() if given else Path(tempfile.mkdtemp(prefix="pgseek-bench-"))
    try:
        yield home
    finally:
        stop_server(home)
        if not given:
            shutil.rmtree(home, ignore_errors=True)


def settings_for(home: Path) -> Any:
    from pgseek import Settings

    # Only the home is set here: everything else comes from the environment (PGSEEK_*) or pgseek's defaults, but for
    # the caches, off unless PGSEEK_CACHE says otherwise: the benchmarks time the search itself, and their warm-up
    # queries, repeated queries and modes run on one text would be served from the caches (docs/caching.md;
    # bench_http.py --caches measures them).
    settings = Settings(home=home, database_url=None)
    return settings if "PGSEEK_CACHE" in os.environ else settings.model_copy(update={"cache": False})


def stop_server(home: Path) -> None:
    from pgseek.db.connect import embedded_server

    try:
        embedded_server(settings_for(home)).stop()
    except Exception as exc:  # a benchmark that failed early may have started nothing
        print(f"note: could not stop the embedded server under {home}: {exc}", file=sys.stderr)


def machine() -> dict[str, Any]:
    ram = None
    with suppress(ValueError, OSError, AttributeError):
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1) if ram else None,
    }


def server_versions(url: str) -> dict[str, str | None]:
    """PostgreSQL and pgvector versions of the server at ``url``."""
    import psycopg

    with psycopg.connect(url) as conn:
        pg = conn.execute("SELECT current_setting('server_version')").fetchone()
        vec = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return {"postgres": pg[0] if pg else None, "pgvector": vec[0] if vec else None}


def embed_backends(embedder: object) -> dict[str, str]:
    """Which backend (torch or onnx) the embedder uses per purpose; empty for an embedder that does not say."""
    backend_for = getattr(embedder, "backend_for", None)
    if backend_for is None:
        return {}
    return {purpose: str(backend_for(purpose)) for purpose in ("document", "query")}


def base_meta(url: str | None = None) -> dict[str, Any]:
    from importlib.metadata import version

    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "pgseek": version("pgseek"),
    }
    if url is not None:
        meta["versions"] = server_versions(url)
    return meta


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


# --- output -------------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def write_results(
    name: str, rows: list[dict[str, Any]], meta: dict[str, Any], *, plot: dict[str, Any] | None = None
) -> Path:
    """Print ``rows`` as a table, write ``bench/results/<name>.json`` (rows + meta) and, with ``plot``, a PNG.

    ``plot`` holds the keyword arguments of ``bar_chart`` (at least ``labels`` and ``values``).
    """
    from rich.console import Console
    from rich.table import Table

    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    table = Table(title=f"pgseek bench: {name}")
    for column in columns:
        table.add_column(column, justify="left" if column in ("metric", "what", "method") else "right")
    for row in rows:
        table.add_row(*(_fmt(row.get(c, "")) for c in columns))
    Console().print(table)

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"name": name, "rows": rows, "meta": meta}, indent=2, default=str) + "\n")
    print(f"wrote {path.relative_to(REPO)}")
    if plot is not None:
        png = bar_chart(RESULTS / f"{name}.png", **plot)
        print(f"wrote {png.relative_to(REPO)}")
    return path


def bar_chart(
    path: Path,
    *,
    labels: Sequence[str],
    values: Sequence[float] | dict[str, Sequence[float]],
    title: str,
    ylabel: str,
    stacked: bool = False,
    target: float | None = None,
    target_label: str = "target",
) -> Path:
    """A bar chart: ``values`` is one series, or {series name: values} for grouped (or ``stacked``) bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = values if isinstance(values, dict) else {"": values}
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.4 * len(labels) + 2), 4))
    width = 0.8 if stacked or len(series) == 1 else 0.8 / len(series)
    bottom = np.zeros(len(labels))
    for i, (label, ys) in enumerate(series.items()):
        heights = np.asarray(ys, dtype=np.float64)
        if stacked:
            bars = ax.bar(x, heights, width, bottom=bottom, label=label or None)
            bottom += heights
        else:
            offset = (i - (len(series) - 1) / 2) * width
            bars = ax.bar(x + offset, heights, width, label=label or None)
        ax.bar_label(
            bars, labels=[_fmt(float(v)) for v in heights], label_type="center" if stacked else "edge", fontsize=8
        )
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=target_label)
    ax.set_xticks(x, list(labels))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, wrap=True)
    if any(series) or target is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def line_chart(
    path: Path, *, labels: Sequence[str], values: Mapping[str, Sequence[float]], title: str, xlabel: str, ylabel: str
) -> Path:
    """One line per series of ``values`` over the points ``labels``, each point marked and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.8 * len(labels) + 2), 4))
    for label, ys in values.items():
        ax.plot(x[: len(ys)], ys, marker="o", label=label)
        for xi, y in zip(x, ys, strict=False):
            ax.annotate(f"{y:,.0f}", (xi, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xticks(x, list(labels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10, wrap=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
