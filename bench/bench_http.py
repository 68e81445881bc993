"""Load test of the HTTP service on loopback: /v1/search (hybrid) and /v1/ask (extractive) under concurrent clients.

    python bench/bench_http.py            # SciFact corpus (5,183 documents), 30 s per endpoint, 16 clients
    python bench/bench_http.py --quick    # first 300 documents, 5 s per endpoint: checks that the benchmark runs
    python bench/bench_http.py --caches compare --endpoints search   # hybrid search, caches off then on (Zipf)

The corpus is ingested with the library into a fresh home (collection ``bench_http``, tenant ``bench``), an API key
is made for the tenant, then ``pgseek serve`` runs as its own process (uvicorn, ``--workers``, default 1) on a free
port of 127.0.0.1. The load generator is this process: ``--concurrency`` asyncio clients (httpx, one keep-alive
connection each) send requests back to back for ``--duration`` seconds per endpoint, after ``--warmup`` seconds that
are not counted. Queries are the SciFact test queries, in turn. Client and server share the machine's cores.

Reported per endpoint: requests, errors (non-200 answers and transport failures), throughput, latency p50/p90/p99/max
as the client saw it, and the server's own ``timings_ms.total`` p50/p99 (the difference is queueing and HTTP); the
meta has the server's p50/p99 per stage (embed, search, fuse or generate).
Writes ``bench/results/http.{json,png}`` (``http_quick`` with --quick). Figures are reported, never asserted.

Caches (docs/caching.md): ``--caches off`` (the default, as the figures before caches were measured) starts the
server with ``PGSEEK_CACHE=false`` and sends the queries in turn. ``--caches compare`` runs hybrid search twice on one
query stream drawn from a Zipf distribution over the test queries (``--zipf-s``, 1.1: a few queries are asked
often, most rarely, as real traffic does): with the caches off, then on (in process, or in Redis with ``--redis
URL``), and reports each run's result-cache hit ratio beside the figures of ``http.json``; it writes
``http_cache.{json,png}`` (``http_cache_quick``).
Targets from the issue: zero errors, p99 under 100 ms for hybrid search on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

COLLECTION = "bench_http"
TENANT = "bench"
P99_TARGET_MS = 100.0


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)
    """Counted responses by what the result cache did: hit, miss, off."""

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingest(home: Path, limit: int | None) -> tuple[str, str, dict[str, Any]]:
    """Load the corpus with the library; return an API key for the tenant, the database URL and a summary."""
    from pgseek import Document, Seek

    corpus = common.load_corpus(limit)
    documents = [
        Document(str(d["_id"]), str(d["text"]), title=d.get("title") or None, metadata=dict(d.get("metadata") or {}))
        for d in corpus
    ]
    with Seek(common.settings_for(home)) as seek:
        report = seek.ingest_documents(documents, collection=COLLECTION, tenant=TENANT)
        key = seek.create_api_key(TENANT, name="bench").key
        url = str(seek._core._url)
    summary = {"documents": report.documents_added, "chunks": report.chunks_embedded, "ingest_seconds": report.seconds}
    print(f"ingested {report.documents_added:,} documents, {report.chunks_embedded:,} chunks", flush=True)
    return key, url, summary


def zipf_stream(bodies: list[dict[str, Any]], s: float, draws: int, seed: int = 0) -> list[dict[str, Any]]:
    """``draws`` requests drawn from ``bodies`` with P(rank r) proportional to 1 / r**s; which query has which rank
    is shuffled with the seed, so that the popular queries are not just the dataset's first."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(bodies) + 1) ** s
    order = rng.permutation(len(bodies))
    picks = rng.choice(len(bodies), size=draws, p=weights / weights.sum())
    return [bodies[int(order[i])] for i in picks]


def start_server(
    home: Path, port: int, workers: int, log: Path, cache_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    import httpx

    env = {**os.environ, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1", **(cache_env or {})}
    env.pop("PGSEEK_DATABASE_URL", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pgseek", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"pgseek serve exited with {process.returncode}; its log: {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    sys.exit(f"pgseek serve did not become ready in 300 s; its log: {log}")


async def load(
    url: str, key: str, path: str, bodies: list[dict[str, Any]], *, concurrency: int, duration: float, warmup: float
) -> tuple[Tally, float]:
    """``concurrency`` clients back to back on ``path``; returns what the timed window saw and its length."""
    import httpx

    tally = Tally()
    turns = itertools.cycle(bodies)
    started = time.perf_counter()
    counting_from = started + warmup
    stop_at = counting_from + duration

    async def client() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            while (sent := time.perf_counter()) < stop_at:
                body = next(turns)
                try:
                    response = await http.post(path, json=body)
                    ok = response.status_code == 200
                    answer = response.json() if ok else {}
                    timings = answer["timings_ms"] if ok else {}
                    server_ms = timings.get("total")
                    cached = answer.get("cache", {}).get("result") if ok else None
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    ok, server_ms, response, timings, cached = False, None, None, {}, None
                    kind = type(exc).__name__
                done = time.perf_counter()
                if sent < counting_from:
                    continue
                tally.latencies_ms.append((done - sent) * 1000)
                if ok and server_ms is not None:
                    tally.server_ms.append(float(server_ms))
                    for stage, ms in timings.items():
                        tally.stages_ms.setdefault(stage, []).append(float(ms))
                    if cached is not None:
                        tally.cache[cached] = tally.cache.get(cached, 0) + 1
                else:
                    tally.error(f"HTTP {response.status_code}" if response is not None else kind)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return tally, time.perf_counter() - counting_from


def row(endpoint: str, tally: Tally, seconds: float) -> dict[str, Any]:
    lat, srv = tally.latencies_ms, tally.server_ms
    answered = sum(tally.cache.values())
    return {
        "endpoint": endpoint,
        "requests": len(lat),
        "errors": sum(tally.errors.values()),
        "req/s": len(lat) / seconds if seconds else float("nan"),
        "p50 ms": common.percentile(lat, 50),
        "p90 ms": common.percentile(lat, 90),
        "p99 ms": common.percentile(lat, 99),
        "max ms": max(lat) if lat else float("nan"),
        "server p50 ms": common.percentile(srv, 50),
        "server p99 ms": common.percentile(srv, 99),
        "result hit ratio": tally.cache.get("hit", 0) / answered if answered else float("nan"),
    }


@dataclass(frozen=True)
class Run:
    label: str
    path: str
    bodies: list[dict[str, Any]]
    cache_env: dict[str, str]


def plan_runs(args: argparse.Namespace, queries: list[str], endpoints: list[str]) -> list[Run]:
    """What to load, and under which cache settings the server runs for each."""
    search = [{"query": q, "mode": "hybrid", "k": args.k, "collection": COLLECTION} for q in queries]
    ask = [{"question": q, "collection": COLLECTION} for q in queries]
    off = {"PGSEEK_CACHE": "false"}
    on = {"PGSEEK_CACHE": "true", "PGSEEK_REDIS_URL": args.redis or ""}
    where = "Redis" if args.redis else "in process"
    if args.caches == "compare":
        stream = zipf_stream(search, args.zipf_s, draws=200_000)
        return [
            Run("POST /v1/search (hybrid), caches off, Zipf", "/v1/search", stream, off),
            Run(f"POST /v1/search (hybrid), caches on ({where}), Zipf", "/v1/search", stream, on),
        ]
    env = off if args.caches == "off" else on
    suffix = "" if args.caches == "off" else f", caches on ({where})"
    by_name = {
        "search": Run(f"POST /v1/search (hybrid){suffix}", "/v1/search", search, env),
        "ask": Run(f"POST /v1/ask (extractive){suffix}", "/v1/ask", ask, env),
    }
    return [by_name[name] for name in endpoints]


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def previous_rows() -> list[dict[str, Any]]:
    """The search figures of the last full run without caches (bench/results/http.json), to compare against."""
    path = common.RESULTS / "http.json"
    if not path.exists():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [
        {**r, "endpoint": f"previous: {r['endpoint']}, in turn (http.json)"} for r in rows if "search" in r["endpoint"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 documents, 5 s per endpoint")
    parser.add_argument("--limit", type=int, default=None, help="ingest only the first N documents")
    parser.add_argument("--duration", type=float, default=None, help="timed seconds per endpoint (30)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before timing (3)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--workers", type=int, default=1, help="pgseek serve --workers (1)")
    parser.add_argument("--k", type=int, default=10, help="search hits per request (10)")
    parser.add_argument("--endpoints", default="search,ask", help="comma-separated: search (hybrid), ask (extractive)")
    parser.add_argument(
        "--caches", choices=("off", "on", "compare"), default="off", help="server caches: off, on, or compare (off)"
    )
    parser.add_argument("--zipf-s", type=float, default=1.1, help="Zipf exponent of the compare query stream (1.1)")
    parser.add_argument("--redis", default=None, help="Redis URL for the caches (default: in process)")
    args = parser.parse_args(argv)
    limit = args.limit if args.limit is not None else (300 if args.quick else None)
    duration = args.duration if args.duration is not None else (5.0 if args.quick else 30.0)
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = set(endpoints) - {"search", "ask"}
    if unknown:
        parser.error(f"unknown endpoint(s) {sorted(unknown)}: use search, ask")
    queries = [text for _, text in common.load_test_queries()]
    runs = plan_runs(args, queries, endpoints)

    rows: list[dict[str, Any]] = []
    errors: dict[str, dict[str, int]] = {}
    stages: dict[str, dict[str, dict[str, float]]] = {}
    with common.bench_home() as home:
        key, db_url, summary = ingest(home, limit)
        for run in runs:  # a server per run: each starts with empty caches
            port = free_port()
            server = start_server(home, port, args.workers, home / "serve.log", run.cache_env)
            try:
                print(f"{run.label}: {args.concurrency} clients, {args.warmup:.0f} s warm-up + {duration:.0f} s")
                tally, seconds = asyncio.run(
                    load(
                        f"http://127.0.0.1:{port}",
                        key,
                        run.path,
                        run.bodies,
                        concurrency=args.concurrency,
                        duration=duration,
                        warmup=args.warmup,
                    )
                )
            finally:
                stop_server(server)
            rows.append(row(run.label, tally, seconds))
            errors[run.label] = tally.errors
            stages[run.label] = {
                stage: {"p50": common.percentile(v, 50), "p99": common.percentile(v, 99)}
                for stage, v in tally.stages_ms.items()
            }
        meta = common.base_meta(db_url)

    search = next((r for r in rows if "search" in r["endpoint"]), None)
    meta.update(
        {
            "dataset": "BEIR SciFact corpus" + (f" (first {limit} documents)" if limit else ""),
            **summary,
            "collection": COLLECTION,
            "queries": len(queries),
            "concurrency": args.concurrency,
            "duration_seconds": duration,
            "warmup_seconds": args.warmup,
            "server_workers": args.workers,
            "k": args.k,
            "caches": args.caches,
            "zipf_s": args.zipf_s if args.caches == "compare" else None,
            "redis": bool(args.redis),
            "errors_by_kind": errors,
            "server_stage_ms": stages,
            "p99_target_ms": P99_TARGET_MS,
            "search_within_target": bool(search and search["errors"] == 0 and search["p99 ms"] < P99_TARGET_MS),
            "notes": "Client latency is from just before the request is sent to the parsed response; server ms is "
            "the response's timings_ms.total (embed + search [+ generate]). One keep-alive connection per client. "
            "The load generator runs on the same machine as the server and the database. Each run has a server of "
            "its own, started with empty caches; the warm-up fills them as traffic would.",
        }
    )
    if args.caches == "compare":
        rows += previous_rows()
    name = ("http_cache" if args.caches == "compare" else "http") + ("_quick" if args.quick else "")
    common.write_results(
        name,
        rows,
        meta,
        plot={
            "labels": [r["endpoint"].replace(", ", "\n") for r in rows],
            "values": {"p50 ms": [r["p50 ms"] for r in rows], "p99 ms": [r["p99 ms"] for r in rows]},
            "ylabel": "latency (ms)",
            "title": f"pgseek serve, {args.concurrency} clients on loopback\n"
            + ", ".join(f"{r['req/s']:.1f}" for r in rows)
            + " req/s",
            "target": P99_TARGET_MS,
            "target_label": "p99 target (search)",
        },
    )
    print(json.dumps(errors), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
