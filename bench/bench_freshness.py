"""Freshness under a steady write rate (issue 14's benchmark): change-to-searchable lag and queue depth.

    python bench/bench_freshness.py                             # 2, 10, 30 docs/s, 1 and 2 workers, 180 s each
    python bench/bench_freshness.py --rates 5 --workers 1 --seconds 60     # a smoke run

Steps, on a fresh embedded server: measure the model's own speed (SciFact abstracts per second of model time, from
an ingest of ``--calibrate`` abstracts); then, for each worker count and rate, create an application table, point a
collection at it (``pgseek sync add``), start that many ``pgseek worker`` processes, insert SciFact abstracts into
the table at the rate for ``--seconds``, sampling the queue's depth every second, and wait for the queue to drain.
Reports lag p50/p99 (job enqueued by the trigger to done), the most jobs waiting, the rate sustained, and that rate
against the model's speed. Writes ``bench/results/freshness.{json,png}`` (queue depth over time); figures are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DRAIN_LIMIT_S = 300.0


def _workers(home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1", "PGSEEK_WORKER_POLL_S": "1"}
    env.pop("PGSEEK_DATABASE_URL", None)
    command = [sys.executable, "-m", "pgseek", "worker"]
    return [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=60)


def _depth(conn: Any, collection: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM jobs WHERE collection = %s AND state IN ('pending', 'running')", (collection,)
    ).fetchone()
    return int(row[0])


def _lags(conn: Any, collection: str) -> tuple[list[float], float]:
    """Each done job's lag in seconds, and the seconds from the first change to the last job done."""
    rows = conn.execute(
        "SELECT extract(epoch FROM finished_at - enqueued_at)::float8, extract(epoch FROM enqueued_at)::float8, "
        "extract(epoch FROM finished_at)::float8 FROM jobs WHERE collection = %s AND state = 'done'",
        (collection,),
    ).fetchall()
    if not rows:
        return [], 0.0
    return [float(r[0]) for r in rows], max(float(r[2]) for r in rows) - min(float(r[1]) for r in rows)


def _wait_for_workers(seek: Any, count: int) -> None:
    deadline = time.monotonic() + 180
    while len(seek.jobs.status().workers) < count and time.monotonic() < deadline:
        time.sleep(0.5)


def _one_run(
    seek: Any, url: str, home: Path, docs: list[dict[str, Any]], workers: int, rate: float, seconds: float
) -> dict[str, Any]:
    import psycopg

    table = f"app_w{workers}_r{rate:g}".replace(".", "_")
    collection = f"fresh_{table}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, title text, body text)")
    seek.jobs.sync_add(table, id_column="id", text_column="body", title_column="title", collection=collection)
    procs = _workers(home, workers)
    try:
        _wait_for_workers(seek, workers)
        depth: list[tuple[float, int]] = []
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.monotonic()
            inserted, next_sample = 0, 0.0
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate)
                while inserted < due:
                    d = docs[inserted % len(docs)]
                    conn.execute(
                        f"INSERT INTO {table} VALUES (%s, %s, %s)",
                        (f"{d['_id']}-{inserted}", d.get("title"), d["text"]),
                    )
                    inserted += 1
                if elapsed >= next_sample:
                    depth.append((elapsed, _depth(conn, collection)))
                    next_sample += 1.0
                time.sleep(min(0.05, 1 / rate / 2))
            while (pending := _depth(conn, collection)) and time.monotonic() - started < seconds + DRAIN_LIMIT_S:
                depth.append((time.monotonic() - started, pending))
                time.sleep(1.0)
            lags, span = _lags(conn, collection)
    finally:
        _stop(procs)
    return {
        "workers": workers,
        "rate docs/s": rate,
        "inserted": inserted,
        "done": len(lags),
        "lag p50 s": common.percentile(lags, 50),
        "lag p99 s": common.percentile(lags, 99),
        "max depth": max((n for _, n in depth), default=0),
        "sustained docs/s": len(lags) / span if span else float("nan"),
        "_depth": depth,
    }


def _model_speed(seek: Any, docs: list[dict[str, Any]]) -> dict[str, float]:
    from pgseek import Document

    batch = [Document(f"cal-{d['_id']}", str(d["text"]), title=str(d.get("title") or "") or None) for d in docs]
    report = seek.ingest_documents(batch, collection="calibration")
    return {
        "model docs/s": len(batch) / report.model_seconds,
        "pipeline docs/s": len(batch) / report.seconds,
        "chunks per doc": report.chunks_embedded / len(batch),
    }


def _plot(path: Path, rows: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for row in rows:
        points = row["_depth"]
        ax.plot(
            [t for t, _ in points],
            [n for _, n in points],
            label=f"{row['workers']} worker(s), {row['rate docs/s']:g}/s",
        )
    ax.set_xlabel("seconds since the first insert")
    ax.set_ylabel("jobs waiting (pending + running)")
    ax.set_title("pgseek freshness: queue depth under a steady insert rate (SciFact abstracts)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="2,10,30", help="Insert rates, docs/s, comma-separated.")
    parser.add_argument("--workers", default="1,2", help="Worker process counts, comma-separated.")
    parser.add_argument("--seconds", type=float, default=180.0, help="Seconds of inserts per run.")
    parser.add_argument("--calibrate", type=int, default=200, help="Abstracts ingested to time the model.")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    counts = [int(w) for w in args.workers.split(",")]

    from pgseek import Seek
    from pgseek.db.connect import resolve_url

    docs = common.load_corpus()
    with common.bench_home() as home:
        settings = common.settings_for(home)
        with Seek(settings) as seek:
            speed = _model_speed(seek, docs[: args.calibrate])
            print(f"model: {speed['model docs/s']:.1f} abstracts/s of model time", flush=True)
            url = resolve_url(settings)
            rows = []
            for workers in counts:
                for rate in rates:
                    print(f"{workers} worker(s) at {rate:g} docs/s for {args.seconds:g} s", flush=True)
                    row = _one_run(seek, url, home, docs[args.calibrate :], workers, rate, args.seconds)
                    row["vs model"] = row["sustained docs/s"] / speed["model docs/s"]
                    rows.append(row)
            meta = {**common.base_meta(url), **speed, "seconds": args.seconds}
    png = _plot(common.RESULTS / "freshness.png", rows)
    common.write_results(
        "freshness",
        [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
        {**meta, "depth": {f"{r['workers']}w_{r['rate docs/s']:g}": r["_depth"] for r in rows}},
    )
    print(f"wrote {png.relative_to(common.REPO)}")


if __name__ == "__main__":
    main()
