"""Memory of ``pgseek serve`` across HTTP ingests: the server's RSS after start-up and after each ingest round.

    python bench/bench_memory.py                          # 8 rounds of ~300 KB of text each, this checkout
    python bench/bench_memory.py --baseline-rev b994812   # the same rounds on a git revision too, plotted together
    python bench/bench_memory.py --quick                  # 3 rounds of ~100 KB: checks that the benchmark runs

Each series starts its own ``pgseek serve`` process (one uvicorn worker, the default embedding backend choice) on a
free port of 127.0.0.1 over one throwaway home (embedded PostgreSQL, model cache shared by the series). A round posts
text files read from /usr/share/doc (git and Node.js documentation: different files every round, so everything is
chunked and embedded) to ``POST /v1/collections/<c>/documents`` in requests of ``--per-request`` documents, waits
``--settle`` seconds, and reads the server's VmRSS from /proc. After the rounds, ``--queries`` hybrid searches time the
query path (client-side latency, sequential).

A series runs the sources of a git revision (``--baseline-rev``, exported with ``git archive``) by putting them first
on the server's PYTHONPATH; everything else (venv, model, database, documents) is the same.

Reported per series and round: RSS (MiB), its growth over the first round, chunks embedded, seconds and chunks/s
(as ``IngestReport`` counts them). Meta: start-up RSS, query p50/p90. Writes ``bench/results/memory.{json,png}``
(``memory_quick`` with --quick); the PNG plots RSS per round for each series.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from bench_http import free_port

DOC_ROOTS = [Path("/usr/share/doc/git"), Path("/usr/share/doc/nodejs")]
SUFFIXES = {".txt", ".md", ".html", ".adoc"}
TENANT = "bench"
QUERIES = [
    "how do I rebase a branch onto another",
    "garbage collection of unreachable objects",
    "streams backpressure in node",
    "security release of openssl",
    "submodule update recursive",
    "worker threads shared memory",
]


def documents(rounds: int, kib_per_round: int) -> list[list[dict[str, str]]]:
    """``rounds`` disjoint lists of text files of about ``kib_per_round`` KiB each, in a fixed order."""
    files = sorted(p for root in DOC_ROOTS if root.is_dir() for p in root.rglob("*") if p.suffix in SUFFIXES)
    batches: list[list[dict[str, str]]] = [[]]
    size = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not text.strip():
            continue
        if size >= kib_per_round * 1024:
            if len(batches) == rounds:
                break
            batches.append([])
            size = 0
        batches[-1].append({"id": str(path), "title": path.stem, "text": text})
        size += len(text.encode())
    if len(batches) < rounds or size < kib_per_round * 1024:
        sys.exit(f"not enough text under {', '.join(map(str, DOC_ROOTS))} for {rounds} rounds of {kib_per_round} KiB")
    return batches


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def revision_sources(rev: str) -> Iterator[Path]:
    """``src/`` of a git revision of this repository, exported into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pgseek-rev-") as tmp:
        archive = Path(tmp) / "src.tar"
        subprocess.run(["git", "-C", str(common.REPO), "archive", "-o", str(archive), rev, "src"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "src"


def serve(home: Path, src: Path, log: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {**os.environ, **extra_env, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(src)}
    env.pop("PGSEEK_DATABASE_URL", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pgseek", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"pgseek serve exited with {process.returncode}; its log: {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    sys.exit(f"pgseek serve did not become ready in 300 s; its log: {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def api_key(home: Path) -> str:
    import json

    env = {**os.environ, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("PGSEEK_DATABASE_URL", None)
    made = subprocess.run(
        [sys.executable, "-m", "pgseek", "keys", "create", "--tenant", TENANT, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(made.stdout)["key"])


def run_series(
    label: str, home: Path, src: Path, key: str, rounds: list[list[dict[str, str]]], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One server process: RSS after start-up and after each round, then the query timings."""
    import httpx

    process, url = serve(home, src, home / f"serve-{label}.log", dict(args.env))
    collection = f"memory_{label}_{int(time.time())}"
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(args.settle)
        started_mib = rss_mib(process.pid)
        print(f"{label}: after start-up {started_mib:,.0f} MiB", flush=True)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as http:
            for number, docs in enumerate(rounds, 1):
                chunks, seconds = 0, 0.0
                for start in range(0, len(docs), args.per_request):
                    body = {"documents": docs[start : start + args.per_request]}
                    response = http.post(f"/v1/collections/{collection}/documents", json=body)
                    response.raise_for_status()
                    report = response.json()
                    chunks += int(report["chunks_embedded"])
                    seconds += float(report["seconds"])
                time.sleep(args.settle)
                rss = rss_mib(process.pid)
                rows.append(
                    {
                        "series": label,
                        "round": number,
                        "documents": len(docs),
                        "chunks": chunks,
                        "seconds": seconds,
                        "chunks/s": chunks / seconds if seconds else float("nan"),
                        "RSS MiB": rss,
                        "growth MiB": rss - rows[0]["RSS MiB"] if rows else 0.0,
                    }
                )
                print(f"{label}: round {number}: {chunks} chunks in {seconds:.1f} s, RSS {rss:,.0f} MiB", flush=True)
            latencies = []
            for i in range(args.queries):
                search = {"query": QUERIES[i % len(QUERIES)], "collection": collection, "mode": "hybrid", "k": 10}
                sent = time.perf_counter()
                http.post("/v1/search", json=search).raise_for_status()
                latencies.append((time.perf_counter() - sent) * 1000)
        after_queries = rss_mib(process.pid)
    finally:
        stop(process)
    summary = {
        "startup_rss_mib": started_mib,
        "rss_after_queries_mib": after_queries,
        "chunks_per_second": sum(r["chunks"] for r in rows) / sum(r["seconds"] for r in rows),
        "query_p50_ms": common.percentile(latencies[1:], 50),
        "query_p90_ms": common.percentile(latencies[1:], 90),
    }
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 KiB")
    parser.add_argument("--rounds", type=int, default=None, help="ingest rounds per series (8)")
    parser.add_argument("--kib", type=int, default=None, help="KiB of text per round (300)")
    parser.add_argument("--per-request", type=int, default=50, help="documents per HTTP request (50)")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before reading RSS (2)")
    parser.add_argument("--queries", type=int, default=40, help="hybrid searches timed after the rounds (40)")
    parser.add_argument("--baseline-rev", default=None, help="also run this git revision's src/, first")
    parser.add_argument(
        "--env", action="append", default=[], type=lambda s: tuple(s.split("=", 1)), help="NAME=VALUE for the server"
    )
    args = parser.parse_args(argv)
    rounds_n = args.rounds or (3 if args.quick else 8)
    rounds = documents(rounds_n, args.kib or (100 if args.quick else 300))

    rows: list[dict[str, Any]] = []
    series: dict[str, dict[str, Any]] = {}
    with common.bench_home() as home:
        key = api_key(home)
        if args.baseline_rev:
            with revision_sources(args.baseline_rev) as src:
                got, summary = run_series("before", home, src, key, rounds, args)
            rows += got
            series["before"] = {"source": args.baseline_rev, **summary}
        got, summary = run_series("after", home, common.REPO / "src", key, rounds, args)
        rows += got
        series["after"] = {"source": "this checkout", **summary}
        meta = common.base_meta()
    meta.update(
        {
            "documents": f"text files under {', '.join(map(str, DOC_ROOTS))}, {len(rounds)} disjoint rounds",
            "per_request": args.per_request,
            "settle_seconds": args.settle,
            "server_env": dict(args.env),
            "series": series,
            "notes": "RSS is VmRSS of the one `pgseek serve` process (the embedded PostgreSQL is apart), read "
            "after each round and --settle idle seconds. chunks/s is chunks_embedded / IngestReport.seconds. "
            "Query latency is client-side, sequential hybrid searches over the ingested collection.",
        }
    )
    name = "memory_quick" if args.quick else "memory"
    labels = ["start"] + [str(n) for n in range(1, len(rounds) + 1)]
    values = {
        f"{s} ({info['source']})": [info["startup_rss_mib"]] + [r["RSS MiB"] for r in rows if r["series"] == s]
        for s, info in series.items()
    }
    common.write_results(name, rows, meta)
    png = common.line_chart(
        common.RESULTS / f"{name}.png",
        labels=labels,
        values=values,
        title="pgseek serve: RSS after start-up and after each HTTP ingest round",
        xlabel="ingest round",
        ylabel="RSS (MiB)",
    )
    print(f"wrote {png.relative_to(common.REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
