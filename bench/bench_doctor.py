"""``pgseek doctor`` and ``pgseek maintain`` on a multi-tenant collection: recall@10 per tenant size bucket, dead
rows after deletes, ``maintain --apply`` run while searches go on, recall again.

    python bench/bench_doctor.py                                  # 100,000 chunks, 1,000 embedded
    python bench/bench_doctor.py --rows 20000 --base 300 --queries 10   # quick run

Data: bench_search.py's (``--base`` SciFact chunks embedded for real, ``--rows`` noisy copies over 100 tenants of
Zipf-like sizes, pgseek's write path, HNSW m 16 / ef_construction 64) in collection ``bench_filtered``. Searches run
with ``PGSEEK_EXACT_SEARCH_BELOW`` = ``--exact-below`` (default 1,000, not pgseek's 5,000), so that mid-size tenants
of this corpus go through the HNSW index and their bucket is measured.

Steps: ``Seek.doctor`` with recall (``--queries`` per bucket, target 0.95); delete whole tenants (ranks 2, 3, ...)
until ``--delete-share`` of the rows are gone; ``doctor`` without recall once the statistics show the dead rows;
``maintain`` dry run; ``--searches`` vector searches over the largest tenant as a baseline, then the same loop in a
thread of its own while ``maintain --apply`` runs; ``doctor`` with recall again. Reported: recall@10 at ef_search 40
and the ef_search that reaches 0.95 per bucket before and after, the doctor's own seconds, each maintenance
statement's seconds, search p50/p99 (``timings_ms.search``) before and during maintenance, and errors during it.
Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_search
import common

COLLECTION = bench_search.COLLECTION
K = 10


class SearchLoop:
    """Vector searches over one tenant in a thread of its own (its own Seek), until stopped."""

    def __init__(self, settings: Any, embedder: Any, tenant: str, queries: list[str]) -> None:
        self.settings, self.embedder, self.tenant, self.queries = settings, embedder, tenant, queries
        self.ms: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="search-loop")

    def _run(self) -> None:
        from pgseek import Seek

        with Seek(self.settings, embedder=self.embedder) as searcher:
            n = 0
            while not self.stop.is_set():
                query = self.queries[n % len(self.queries)]
                n += 1
                try:
                    result = searcher.search(query, k=K, mode="vector", collection=COLLECTION, tenant=self.tenant)
                    if len(result.hits) < K:
                        self.errors.append(f"{len(result.hits)} hits for {query!r}")
                    self.ms.append(result.timings_ms.search)
                except Exception as exc:  # every failure is a figure of the run
                    self.errors.append(f"{type(exc).__name__}: {exc}")


# bench_search writes through the write path alone, which records no tenant's use of the collection: its documents
# are deleted here as the owner (chunks and vectors go with them, ON DELETE CASCADE).
DELETE_TENANTS = """
DELETE FROM documents WHERE collection_id = (SELECT id FROM collections WHERE name = %s) AND tenant_id = ANY(%s)"""


def delete_tenants(url: str, tenants: list[str]) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(DELETE_TENANTS, (COLLECTION, tenants)).rowcount


def baseline(seek: Any, tenant: str, queries: list[str], count: int) -> list[float]:
    ms = []
    for n in range(count):
        result = seek.search(queries[n % len(queries)], k=K, mode="vector", collection=COLLECTION, tenant=tenant)
        ms.append(result.timings_ms.search)
    return ms


def dead_rows_seen(seek: Any, table: str) -> Any:
    """The doctor's report once the statistics show the deletes (they are flushed within a second or so)."""
    deadline = time.monotonic() + 30
    while True:
        report = seek.doctor(COLLECTION, recall=False)
        dead = next(f for f in report.findings if f.check == "dead_tuples" and f.subject == table)
        if dead.severity != "ok" or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def _recall(bucket: Any) -> float:
    return float(bucket.recall_at_10) if bucket is not None else float("nan")


def _ef(bucket: Any) -> str:
    return str(bucket.ef_to_target) if bucket is not None and bucket.ef_to_target is not None else "-"


def _dead_ratio(report: Any, table: str) -> float:
    found = next(f for f in report.findings if f.check == "dead_tuples" and f.subject == table)
    return float(found.figures["dead_ratio"] or 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic chunks in all (default 100,000)")
    parser.add_argument("--base", type=int, default=1_000, help="SciFact chunks embedded for real (default 1,000)")
    parser.add_argument("--queries", type=int, default=20, help="doctor's recall queries per bucket (default 20)")
    parser.add_argument("--exact-below", type=int, default=1_000, help="PGSEEK_EXACT_SEARCH_BELOW (default 1,000)")
    parser.add_argument("--delete-share", type=float, default=0.25, help="share of rows to delete (default 0.25)")
    parser.add_argument("--searches", type=int, default=200, help="baseline searches (default 200)")
    args = parser.parse_args(argv)

    from pgseek import Seek

    sizes = bench_search.tenant_sizes(args.rows)
    names = [f"t{r:03d}" for r in range(bench_search.TENANTS)]
    largest = names[int(np.argmax(sizes))]
    doomed: list[str] = []
    for rank in np.argsort(-sizes, kind="stable")[1:]:
        if sizes[[names.index(t) for t in doomed]].sum() >= args.delete_share * args.rows:
            break
        doomed.append(names[int(rank)])
    queries = [text for _, text in common.load_test_queries()][:50]

    with common.bench_home() as home:
        settings = common.settings_for(home).model_copy(update={"exact_search_below": args.exact_below})
        with Seek(settings) as seek:
            seek.status()
            url = seek._core._url
            assert url is not None
            embedder = seek.embedder()
            titles, texts, base_vectors = bench_search.base_chunks(embedder, args.base)
            rng = np.random.default_rng(0)
            vectors = bench_search.synthetic_vectors(base_vectors, args.rows, bench_search.NOISE_SIGMA, rng)
            labels = rng.permutation(np.repeat(np.arange(bench_search.TENANTS), sizes))
            print(f"writing {args.rows:,} chunks over {bench_search.TENANTS} tenants ...", flush=True)
            load = asyncio.run(bench_search.load(url, embedder.info, names, labels, titles, texts, vectors))
            del vectors

            started = time.perf_counter()
            before = seek.doctor(COLLECTION, queries=args.queries)
            doctor_seconds = time.perf_counter() - started
            table = next(f.subject for f in before.findings if f.check == "build_memory")
            print(f"doctor with recall: {doctor_seconds:.1f} s; deleting tenants {', '.join(doomed)} ...", flush=True)
            deleted = delete_tenants(url, doomed)
            started = time.perf_counter()
            dirty = dead_rows_seen(seek, table)
            quick_seconds = time.perf_counter() - started
            planned = seek.maintain(COLLECTION)
            print(f"maintain plans {len(planned.actions)} action(s); baseline searches ...", flush=True)
            quiet = baseline(seek, largest, queries, args.searches)

            loop = SearchLoop(settings, embedder, largest, queries)
            loop.thread.start()
            while not loop.ms and not loop.errors:
                time.sleep(0.05)
            started = time.perf_counter()
            applied = seek.maintain(COLLECTION, apply=True)
            maintain_seconds = time.perf_counter() - started
            loop.stop.set()
            loop.thread.join()
            after = seek.doctor(COLLECTION, queries=args.queries)
            meta = common.base_meta(url)

    rows: list[dict[str, Any]] = []
    after_by_bucket = {b.bucket: b for b in after.recall}
    for b in before.recall:
        a = after_by_bucket.get(b.bucket)
        subject = f"{b.bucket}: {b.tenants} tenants, {b.queries} queries"
        rows.append({"what": "recall@10 at ef 40", "subject": subject, "before": b.recall_at_10, "after": _recall(a)})
        if b.queries:
            rows.append({"what": "ef_search to 0.95", "subject": b.bucket, "before": _ef(b), "after": _ef(a)})
    ratios = [_dead_ratio(report, table) for report in (dirty, after)]
    rows.append({"what": "dead rows (share)", "subject": table, "before": ratios[0], "after": ratios[1]})
    for action in applied.actions:
        rows.append({"what": action.kind, "subject": f"{action.subject} ({action.status})", "s": action.seconds})
    rows.append({"what": "maintain --apply", "subject": "total", "s": maintain_seconds})
    for phase, ms, errors in (("before maintain", quiet, 0), ("during maintain", loop.ms, len(loop.errors))):
        figures = {"p50 ms": common.percentile(ms, 50), "p99 ms": common.percentile(ms, 99), "errors": errors}
        rows.append({"what": "vector search", "subject": f"{phase}: {len(ms)} searches", **figures})
    meta.update(
        {
            "rows": args.rows,
            "base": args.base,
            "exact_search_below": args.exact_below,
            "deleted_tenants": doomed,
            "documents_deleted": deleted,
            "doctor_seconds_with_recall": doctor_seconds,
            "doctor_seconds_without_recall_until_dead_rows_seen": quick_seconds,
            "load": load,
            "errors_during_maintain": loop.errors[:20],
            "recall_before": before.to_json()["recall"],
            "recall_after": after.to_json()["recall"],
            "findings_before": before.to_json()["findings"],
            "findings_after": after.to_json()["findings"],
        }
    )
    buckets = [b.bucket for b in before.recall]
    common.write_results(
        "doctor",
        rows,
        meta,
        plot={
            "labels": buckets,
            "values": {
                "before": [b.recall_at_10 for b in before.recall],
                "after maintain": [after_by_bucket[b].recall_at_10 if b in after_by_bucket else 0.0 for b in buckets],
            },
            "title": f"doctor: recall@10 at ef_search 40 per tenant size bucket ({args.rows:,} chunks)",
            "ylabel": "recall@10",
            "target": 0.95,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
