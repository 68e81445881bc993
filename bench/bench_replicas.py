"""Search throughput against the embedded primary alone and against primary + 2 streaming replicas; replica lag
during a bulk ingest.

    python bench/bench_replicas.py            # 1,000 SciFact documents, 20 s per setup, 16 clients
    python bench/bench_replicas.py --quick    # 100 documents, 5 s per setup: checks that the benchmark runs

One machine runs the primary, the replicas, the model and the clients: the replicas add no CPU, so this measures
what routing costs and what the replicas' separate buffers and processes change there, not the scaling a replica on
its own machine brings. Clients are ``--clients`` asyncio tasks on one ``AsyncSeek`` searching (hybrid, k = 10)
back to back; queries are the SciFact test queries in turn. Figures are reported, never asserted.
Writes ``bench/results/replicas.{json,png}`` (``replicas_quick`` with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from pgseek import Document, Settings
from pgseek.db.connect import embedded_server
from pgseek.db.replicas import EmbeddedReplicas, measure_lag
from pgseek.seek import AsyncSeek

COLLECTION = "bench_replicas"


def _documents(rows: list[dict[str, Any]]) -> list[Document]:
    return [Document(str(r["_id"]), r.get("text") or "", title=r.get("title") or None) for r in rows]


async def _throughput(settings: Settings, queries: list[str], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    async with AsyncSeek(settings) as seek:
        await seek.search(queries[0], collection=COLLECTION, mode="hybrid")  # loads the model, opens the pools
        turn = itertools.cycle(queries)
        stop_at = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    await seek.search(next(turn), collection=COLLECTION, mode="hybrid")
                except Exception:  # counted: the figure to report
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
        replicas = len(seek.replica_lags())
    return {
        "replicas": replicas,
        "searches": len(latencies),
        "errors": errors,
        "searches_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(common.percentile(latencies, 50), 1),
        "p99_ms": round(common.percentile(latencies, 99), 1),
    }


def _lag_during_ingest(settings: Settings, replicas: EmbeddedReplicas, docs: list[Document]) -> dict[str, Any]:
    primary = replicas.primary.start()
    members = [r for r in replicas.members() if r.running]
    samples: list[tuple[int | None, float | None]] = []
    done = threading.Event()

    current_at = {r.number: time.monotonic() for r in members}

    def sample() -> None:
        # Seconds as the router counts them: never more than the time since the replica was last seen current.
        while not done.is_set():
            for replica in members:
                lag_bytes, lag_s = measure_lag(primary, replica)
                now = time.monotonic()
                if lag_bytes == 0:
                    current_at[replica.number] = now
                elif lag_s is not None:
                    lag_s = min(lag_s, now - current_at[replica.number])
                samples.append((lag_bytes, lag_s))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()

    async def ingest() -> None:
        async with AsyncSeek(settings) as seek:
            await seek.ingest_documents(docs, collection=COLLECTION)

    try:
        asyncio.run(ingest())
    finally:
        done.set()
        sampler.join()
    byte_lags = [b for b, _ in samples if b is not None]
    second_lags = [s for _, s in samples if s is not None]
    return {
        "documents": len(docs),
        "ingest_s": round(time.perf_counter() - started, 1),
        "samples": len(samples),
        "max_lag_bytes": max(byte_lags, default=None),
        "p50_lag_bytes": common.percentile(byte_lags, 50) if byte_lags else None,
        "max_lag_s": round(max(second_lags), 3) if second_lags else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 documents, 5 s per setup.")
    parser.add_argument("--docs", type=int, default=1000, help="Documents searched.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds of load per setup.")
    args = parser.parse_args()
    docs_n, seconds = (100, 5.0) if args.quick else (args.docs, args.duration)
    corpus = _documents(common.load_corpus(docs_n * 2))
    queries = [text for _, text in common.load_test_queries()]
    rows: list[dict[str, Any]] = []
    with common.bench_home() as home:
        settings = common.settings_for(home)
        replicas = EmbeddedReplicas(embedded_server(settings))
        try:

            async def load() -> None:
                async with AsyncSeek(settings) as seek:
                    await seek.ingest_documents(corpus[:docs_n], collection=COLLECTION)

            asyncio.run(load())
            for setup in ("primary alone", "primary + 2 replicas"):
                if setup != "primary alone":
                    replicas.start(2)
                measured = asyncio.run(_throughput(settings, queries, args.clients, seconds))
                rows.append({"setup": setup, **measured})
            lag = _lag_during_ingest(settings, replicas, corpus[docs_n:])
        finally:
            replicas.stop()
    meta = {**common.base_meta(), "clients": args.clients, "seconds": seconds, "documents": docs_n, "lag": lag}
    print(f"replica lag during a bulk ingest of {lag['documents']} documents: {lag}")
    common.write_results(
        "replicas_quick" if args.quick else "replicas",
        rows,
        meta,
        plot={
            "labels": [r["setup"] for r in rows],
            "values": [r["searches_per_s"] for r in rows],
            "title": f"hybrid searches/s, {args.clients} clients, one machine",
            "ylabel": "searches/s",
        },
    )


if __name__ == "__main__":
    main()
