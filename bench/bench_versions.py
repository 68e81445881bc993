"""Re-embed a live collection into a candidate version while clients search it (issue 11's benchmark).

    python bench/bench_versions.py                 # the whole SciFact corpus, 8 clients, 200 -> 128-token chunks
    python bench/bench_versions.py --limit 500     # quick run

Steps, on a fresh embedded server: ingest SciFact (default chunking: 200 tokens) and time it; run the search clients
idle for ``--idle`` seconds; add a candidate version with ``--chunk-tokens`` and backfill it while the same clients
search (vector and hybrid alternately, SciFact test queries); compare the two versions on SciFact's test qrels;
activate, and time from activation to the first search served by the new version; roll back; retire. Reports ingest
against backfill chunks/s, search p50/p99 idle against during the backfill, failed searches, and the comparison.
Writes ``bench/results/versions.{json,png}``; figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

COLLECTION = "scifact"


class Clients:
    """``count`` searchers looping over the queries until stopped; latencies and failures recorded."""

    def __init__(self, seek: Any, queries: list[str], count: int) -> None:
        self.seek = seek
        self.queries = queries
        self.count = count
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.latencies, self.failures = [], []
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._loop(i)) for i in range(self.count)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _loop(self, client: int) -> None:
        i = client
        while not self._stop.is_set():
            query = self.queries[i % len(self.queries)]
            mode = "vector" if i % 2 == 0 else "hybrid"
            began = time.perf_counter()
            try:
                await self.seek.search(query, collection=COLLECTION, k=10, mode=mode)
                self.latencies.append((time.perf_counter() - began) * 1000)
            except Exception as exc:  # every failure is a figure of this benchmark
                self.failures.append(f"{type(exc).__name__}: {exc}")
            i += self.count


async def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from pgseek import AsyncSeek, Document

    # With --limit, the documents judged for the test queries first, so that the comparison still means something.
    judged = {doc for qrels in common.load_qrels("test").values() for doc in qrels}
    everything = common.load_corpus()
    corpus = [d for d in everything if str(d["_id"]) in judged]
    corpus += [d for d in everything if str(d["_id"]) not in judged][
        : max(0, (args.limit or len(everything)) - len(corpus))
    ]
    queries = [text for _, text in common.load_test_queries()]
    docs = [Document(str(d["_id"]), str(d["text"]), title=str(d.get("title") or "") or None) for d in corpus]
    figures: dict[str, Any] = {}
    with common.bench_home() as home:
        settings = common.settings_for(home).model_copy(update={"recent_queries_days": 7})
        async with AsyncSeek(settings) as seek:
            began = time.perf_counter()
            ingested = await seek.ingest_documents(docs, collection=COLLECTION)
            ingest_s = time.perf_counter() - began
            figures["ingest chunks"] = ingested.chunks_embedded
            figures["ingest chunks/s"] = ingested.chunks_embedded / ingest_s
            print(
                f"ingested {len(docs):,} documents, {ingested.chunks_embedded:,} chunks in {ingest_s:.0f} s", flush=True
            )

            clients = Clients(seek, queries, args.clients)
            clients.start()
            await asyncio.sleep(args.idle)
            await clients.stop()
            idle = (list(clients.latencies), list(clients.failures))
            print(f"idle: {len(idle[0])} searches", flush=True)

            added = await seek.models.add(COLLECTION, chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_overlap)
            clients.start()
            began = time.perf_counter()
            if args.in_process:
                report = asdict(await seek.models.backfill(COLLECTION, added.id))
            else:
                report = await _backfill_process(home, added.id)
            backfill_s = time.perf_counter() - began
            await clients.stop()
            during = (list(clients.latencies), list(clients.failures))
            embed_s = report["seconds"] - report["index_seconds"]
            figures["backfill chunks"] = report["chunks_written"]
            figures["backfill chunks/s"] = report["chunks_written"] / embed_s if embed_s > 0 else 0.0
            figures["backfill index s"] = report["index_seconds"]
            figures["backfill s"] = backfill_s
            print(f"backfilled {report['chunks_written']:,} chunks in {backfill_s:.0f} s", flush=True)

            comparison = await seek.models.compare(common.SCIFACT, collection=COLLECTION, sample=50)
            print(comparison.verdict, flush=True)

            clients.start()
            activated_at = time.perf_counter()
            await seek.models.activate(COLLECTION, force=comparison.better is False)
            activate_s = time.perf_counter() - activated_at
            first_new = await _first_search_on(seek, added.id, queries[0], activated_at)
            began = time.perf_counter()
            await seek.models.rollback(COLLECTION)
            rollback_s = time.perf_counter() - began
            await clients.stop()
            switch = (list(clients.latencies), list(clients.failures))
            began = time.perf_counter()
            await seek.models.retire(COLLECTION, added.id)
            retire_s = time.perf_counter() - began
            meta = common.base_meta(seek._url)

    rows: list[dict[str, Any]] = []
    for phase, (latencies, failures) in (("idle", idle), ("during backfill", during), ("across switch", switch)):
        rows.append(
            {
                "what": f"search, {phase}",
                "searches": len(latencies),
                "failed": len(failures),
                "p50 ms": common.percentile(latencies, 50) if latencies else 0.0,
                "p99 ms": common.percentile(latencies, 99) if latencies else 0.0,
            }
        )
    rows.append(
        {
            "what": "ingest (200-token chunks)",
            "chunks": figures["ingest chunks"],
            "chunks/s": figures["ingest chunks/s"],
        }
    )
    rows.append(
        {
            "what": f"backfill ({args.chunk_tokens}-token chunks, {args.clients} clients searching)",
            "chunks": figures["backfill chunks"],
            "chunks/s": figures["backfill chunks/s"],
            "seconds": figures["backfill s"],
            "index s": figures["backfill index s"],
        }
    )
    rows.append({"what": "activate (one transaction)", "seconds": activate_s})
    rows.append({"what": "activation -> first search on the new version", "seconds": first_new})
    rows.append({"what": "rollback (one transaction)", "seconds": rollback_s})
    rows.append({"what": "retire (drop table, delete chunks)", "seconds": retire_s})
    for name, side in (("active v%d (200 tokens)", comparison.active), ("candidate v%d", comparison.candidate)):
        rows.append(
            {
                "what": f"compare: {name % side.version}",
                "nDCG@10": side.ndcg_at_10,
                "Recall@100": side.recall_at_100,
                "p50 ms": side.p50_ms,
                "p99 ms": side.p99_ms,
            }
        )
    rows.append({"what": "compare: top-10 overlap on recent searches", "value": comparison.top10_overlap})
    meta["dataset"] = f"BEIR SciFact corpus ({len(docs):,} documents), test queries for search and comparison"
    meta["verdict"] = comparison.verdict
    meta["failures"] = sorted(set(idle[1] + during[1] + switch[1]))[:10]
    meta["settings"] = {
        "clients": args.clients,
        "chunk_tokens": args.chunk_tokens,
        "idle_seconds": args.idle,
        "backfill": "in the searching process" if args.in_process else "pgseek models backfill, a niced process",
    }
    return rows, meta


async def _backfill_process(home: Path, version: int) -> dict[str, Any]:
    """``pgseek models backfill`` in a process of its own, as ``pgseek models add`` starts it (niced by
    PGSEEK_BACKFILL_NICE): its report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pgseek",
        "models",
        "backfill",
        "--collection",
        COLLECTION,
        "--version",
        str(version),
        "--json",
        env={**os.environ, "PGSEEK_HOME": str(home)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the backfill process failed: {stderr.decode(errors='replace')}")
    report: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])["backfill"]
    return report


async def _first_search_on(seek: Any, version: int, query: str, since: float) -> float:
    """Seconds from ``since`` (the activation call) to the end of the first search whose hits are the version's."""
    from pgseek.db import catalog

    while True:
        result = await seek.search(query, collection=COLLECTION, k=1)
        pool = await seek._ready()
        async with pool.connection() as conn:
            found = await catalog.get_collection(conn, COLLECTION)
        if found.version_id == version and result.hits:
            return time.perf_counter() - since
        await asyncio.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="SciFact documents (default: all)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent searchers (default 8)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle searching (default 20)")
    parser.add_argument("--chunk-tokens", type=int, default=128, help="the candidate's chunk size (default 128)")
    parser.add_argument("--chunk-overlap", type=int, default=16, help="the candidate's overlap (default 16)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="backfill in the searching process (as the HTTP service does) instead of a niced process of its own",
    )
    args = parser.parse_args(argv)
    rows, meta = asyncio.run(run(args))
    searches = [r for r in rows if str(r["what"]).startswith("search")]
    common.write_results(
        "versions",
        rows,
        meta,
        plot={
            "labels": [str(r["what"]).removeprefix("search, ") for r in searches],
            "values": {"p50 ms": [r["p50 ms"] for r in searches], "p99 ms": [r["p99 ms"] for r in searches]},
            "ylabel": "ms",
            "title": f"Search latency, {args.clients} clients: idle, during a backfill, across the switch",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
