"""Index kinds and partial per-tenant indexes on bench_search.py's corpus (issue 15 parts 1-3).

    python bench/bench_indexes.py                                        # 200,000 chunks, 2,000 embedded, 50 queries
    python bench/bench_indexes.py --rows 20000 --base 300 --queries 20   # quick run

Data: bench_search.py's corpus (its ``load``: SciFact chunks embedded for real, noisy copies, 100 tenants of
Zipf-like sizes, HNSW m 16 / ef_construction 64), collection ``bench_filtered``. Queries: SciFact test queries
embedded by pgseek's model. Every search runs through ``db.search.vector_search`` under the tenant's scope, as
pgseek's searches do; the ground truth is the same function's exact plan (index scans off) for the same tenant.

Partial indexes (``indexes_partial``): the mid-size tenants (0.4% to 5% of the rows; up to ``--mid-tenants`` spread
over that range), searched with the iterative scan of the shared HNSW index (ef_search 40, max_scan_tuples 20,000,
the exact bound set to 0 so that every one is searched through an index), then again once each has its partial HNSW
index (pgseek's statement: ``db.indexes.create_statement`` with the tenant's predicate). The baseline is the
unfiltered query of bench_search.py (the owner, no tenant condition, HNSW, ef_search 40). Target: recall@10 >= 0.95
at <= 2x the unfiltered p50.

Kinds (``indexes_kinds``): the 3 largest tenants, searched through each kind of index in turn, built alone on the
table (HNSW over the stored vectors, HNSW over embedding::halfvec, HNSW over binary_quantize with the top 8k
re-ranked at full precision, IVFFlat with lists = rows / 1000 and probes sqrt(lists)): build seconds, index size,
recall@10, p50/p99 of the database call. Figures are reported, never asserted.

Capacity (``capacity``): ``Seek.capacity()`` (``pgseek capacity``) on the corpus right after its load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_search as corpus
import common

K = 10
MID_SHARE = (0.004, 0.05)
KIND_TENANTS = 3
LATENCY_TARGET = 2.0
RECALL_TARGET = 0.95
WARMUP = 3
INDEX_SIZE = "SELECT pg_relation_size(to_regclass(%s))"


@dataclass
class Measure:
    recall: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    plans: set[str] = field(default_factory=set)

    def add(self, ids: Sequence[int], truth: Sequence[int], ms: float) -> None:
        self.rows.append(len(ids))
        self.ms.append(ms)
        self.recall.append(len(set(ids) & set(truth)) / max(1, min(K, len(truth))))

    def summary(self) -> dict[str, Any]:
        return {
            "queries": len(self.ms),
            "min rows": min(self.rows, default=0),
            "recall@10": round(float(np.mean(self.recall)), 4) if self.recall else 0.0,
            "p50 ms": round(common.percentile(self.ms, 50), 2),
            "p99 ms": round(common.percentile(self.ms, 99), 2),
            "plan": ", ".join(sorted(self.plans)),
        }


class Bench:
    """One connection, pgseek's vector search under each tenant's scope, timing the whole database call."""

    def __init__(self, conn: Any, collection: Any) -> None:
        self.conn = conn
        self.collection = collection
        self.table = str(collection.table)

    async def search(
        self, tenant: str, vector: np.ndarray, tuning: Any, collection: Any = None
    ) -> tuple[list[int], float, str]:
        from pgseek.db import scope as db_scope
        from pgseek.db import search as db_search

        started = time.perf_counter()
        async with self.conn.transaction():
            scope = await db_scope.enter_tenant(self.conn, tenant)
            rows, plan = await db_search.vector_search(
                scope, self.table, collection or self.collection, vector, k=K, tuning=tuning
            )
        return [r.chunk_id for r in rows], (time.perf_counter() - started) * 1000, plan.kind

    async def measure(
        self,
        tenants: Sequence[str],
        vectors: np.ndarray,
        truths: dict[tuple[str, int], list[int]],
        tuning: Any,
        collection: Any = None,
    ) -> Measure:
        m = Measure()
        for tenant in tenants:
            for v in vectors[:WARMUP]:
                await self.search(tenant, v, tuning, collection)
            for n, v in enumerate(vectors):
                ids, ms, plan = await self.search(tenant, v, tuning, collection)
                m.add(ids, truths[(tenant, n)], ms)
                m.plans.add(plan)
        return m

    async def index_used(self, tenant: str, vector: np.ndarray) -> str:
        """The vector indexes EXPLAIN names for the search's own statement under the tenant's iterative settings."""
        from psycopg import sql

        from pgseek.db import queries
        from pgseek.db import scope as db_scope

        statement = queries.VECTOR_SEARCH.format(
            operator=sql.SQL("<=>"),
            table=sql.Identifier(self.table),
            filter=sql.SQL("TRUE"),
            plan=sql.SQL("bench"),
            order=queries.vector_order(sql.SQL("<=>"), exact=False),
        )
        values = {"query": vector, "tenant": tenant, "collection": self.collection.id, "k": K}
        async with self.conn.transaction():
            await db_scope.enter_tenant(self.conn, tenant)
            await self.conn.execute(queries.iterative_scan(corpus.EF_SEARCH, corpus.MAX_SCAN_TUPLES))
            cur = await self.conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, values)
            row = await cur.fetchone()
        names = corpus._indexes(row[0] if row else None)
        return ", ".join(sorted(n.removeprefix(self.table + "_") for n in names if n.startswith(self.table)))

    async def truths(self, tenants: Sequence[str], vectors: np.ndarray) -> dict[tuple[str, int], list[int]]:
        from pgseek.db.search import VectorTuning

        exact = VectorTuning(K, corpus.MAX_SCAN_TUPLES, 2**62)
        return {(t, n): (await self.search(t, v, exact))[0] for t in tenants for n, v in enumerate(vectors)}

    async def execute(self, statement: Any, memory: str = corpus.INDEX_MEMORY) -> float:
        started = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (memory,))
            await self.conn.execute(statement)
        return time.perf_counter() - started

    async def size(self, index: str) -> int:
        cur = await self.conn.execute(INDEX_SIZE, (index,))
        row = await cur.fetchone()
        return int(row[0] or 0) if row else 0


def _spread(items: Sequence[str], count: int) -> list[str]:
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / max(count - 1, 1)
    return [items[round(i * step)] for i in range(count)]


async def unfiltered_p50(url: str, vectors: np.ndarray) -> float:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        await register_vector_async(conn)
        collection = await db_catalog.get_collection(conn, corpus.COLLECTION)
        searcher = corpus.Searcher(conn, str(collection.table), collection)
        for v in vectors[:WARMUP]:
            await searcher.run(corpus.UNFILTERED, None, v)
        return common.percentile([(await searcher.run(corpus.UNFILTERED, None, v))[1] for v in vectors], 50)


async def partial(url: str, mid: Sequence[str], sizes: dict[str, int], vectors: np.ndarray) -> list[dict[str, Any]]:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog
    from pgseek.db import indexes
    from pgseek.db.search import VectorTuning

    iterative = VectorTuning(corpus.EF_SEARCH, corpus.MAX_SCAN_TUPLES, 0)
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        await register_vector_async(conn)
        collection = await db_catalog.get_collection(conn, corpus.COLLECTION)
        b = Bench(conn, collection)
        truths = await b.truths(mid, vectors)
        rows: list[dict[str, Any]] = []
        build = indexes.BuildOptions(corpus.HNSW_M, corpus.HNSW_EF_CONSTRUCTION, corpus.INDEX_MEMORY, 1)
        spec = replace(collection, index_kind="hnsw", quantization="none").index
        for tenant in mid:
            shared = await b.measure([tenant], vectors, truths, iterative)
            shared_used = await b.index_used(tenant, vectors[0])
            name = indexes.partial_index_name(b.table, collection.id, tenant)
            statement = indexes.create_statement(
                b.table, spec, "vector", build, index=name, tenant=(tenant, collection.id)
            )
            seconds = await b.execute(statement)
            own = await b.measure([tenant], vectors, truths, iterative)
            own_used = await b.index_used(tenant, vectors[0])
            size = await b.size(name)
            await b.execute(indexes.forget_statement(name))
            await conn.execute(f'DROP INDEX "{name}"')
            for label, m, used in (
                ("shared HNSW, iterative scan", shared, shared_used),
                ("partial HNSW index", own, own_used),
            ):
                extra = {"build s": round(seconds, 2), "index MB": round(size / 2**20, 2)} if m is own else {}
                row = {"tenant": tenant, "rows": sizes[tenant], "index": label, "index used": used}
                rows.append({**row, **m.summary(), **extra})
            print(f"  {tenant}: shared r@10 {rows[-2]['recall@10']}, partial r@10 {rows[-1]['recall@10']}", flush=True)
    return rows


async def kinds(url: str, tenants: Sequence[str], vectors: np.ndarray, build_seconds: float) -> list[dict[str, Any]]:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog
    from pgseek.db import indexes, writes
    from pgseek.db.search import VectorTuning

    tuning = VectorTuning(corpus.EF_SEARCH, corpus.MAX_SCAN_TUPLES, 0)
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        await register_vector_async(conn)
        collection = await db_catalog.get_collection(conn, corpus.COLLECTION)
        b = Bench(conn, collection)
        truths = await b.truths(tenants, vectors)
        build = indexes.BuildOptions(corpus.HNSW_M, corpus.HNSW_EF_CONSTRUCTION, corpus.INDEX_MEMORY, 1)
        plain = replace(collection, index_kind="hnsw", quantization="none")
        rows: list[dict[str, Any]] = []

        async def one(label: str, variant: Any, seconds: float) -> None:
            m = await b.measure(tenants, vectors, truths, tuning, variant)
            size = await b.size(variant.index.name(b.table))
            rows.append(
                {"index": label, "build s": round(seconds, 1), "index MB": round(size / 2**20, 1), **m.summary()}
            )
            print(f"  {label}: {rows[-1]}", flush=True)

        await one("HNSW (vector, full precision)", plain, build_seconds)
        for quantization, label in (
            ("halfvec", "HNSW over embedding::halfvec"),
            ("binary", "HNSW over binary_quantize + re-rank"),
        ):
            variant = replace(collection, index_kind="hnsw", quantization=quantization)
            seconds = await b.execute(indexes.create_statement(b.table, variant.index, "vector", build))
            await one(label, variant, seconds)
            await conn.execute(f'DROP INDEX "{variant.index.name(b.table)}"')
        await conn.execute(f'DROP INDEX "{plain.index.name(b.table)}"')  # IVFFlat alone on the table
        ivf = replace(collection, index_kind="ivfflat", quantization="none")
        started = time.perf_counter()
        async with conn.transaction():
            await writes.ensure_vector_index(conn, b.table, ivf.index, build, collection_id=collection.id)
        await one("IVFFlat (lists rows/1000, probes sqrt)", ivf, time.perf_counter() - started)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic chunks in all (default 200,000)")
    parser.add_argument("--base", type=int, default=2_000, help="SciFact chunks embedded for real (default 2,000)")
    parser.add_argument("--queries", type=int, default=50, help="SciFact queries per tenant (default 50)")
    parser.add_argument("--mid-tenants", type=int, default=6, help="mid-size tenants measured (default 6)")
    args = parser.parse_args(argv)

    from pgseek import Seek

    sizes = corpus.tenant_sizes(args.rows)
    names = [f"t{r:03d}" for r in range(corpus.TENANTS)]
    shares = sizes / sizes.sum()
    order = list(np.argsort(-sizes, kind="stable"))
    mid_all = [names[i] for i in order if MID_SHARE[0] <= shares[i] <= MID_SHARE[1]]
    mid = _spread(mid_all, args.mid_tenants)
    largest = [names[i] for i in order[:KIND_TENANTS]]
    by_name = {n: int(s) for n, s in zip(names, sizes, strict=True)}
    texts = [text for _, text in common.load_test_queries()][: args.queries]

    with common.bench_home() as home, Seek(common.settings_for(home)) as seek:
        seek.status()
        url = seek._core._url
        assert url is not None
        embedder = seek.embedder()
        titles, chunk_texts, base_vectors = corpus.base_chunks(embedder, args.base)
        rng = np.random.default_rng(0)
        vectors = corpus.synthetic_vectors(base_vectors, args.rows, corpus.NOISE_SIGMA, rng)
        labels = rng.permutation(np.repeat(np.arange(corpus.TENANTS), sizes))
        queries = np.asarray(embedder.embed(texts, purpose="query"), dtype=np.float32)
        print(f"writing {args.rows:,} chunks ...", flush=True)
        timings = asyncio.run(corpus.load(url, embedder.info, names, labels, titles, chunk_texts, vectors))
        del vectors
        report = seek.capacity(queries=args.queries)
        common.write_results(
            "capacity",
            [
                {
                    "factor": f"{sc.factor}x",
                    "vectors": sc.vectors,
                    "index MB": round(sc.index_bytes / 2**20, 1),
                    "memory": sc.memory,
                    "p99 ms": sc.p99_ms,
                    "range": sc.range,
                }
                for sc in report.scenarios
            ],
            {**report.to_json(), "note": "pgseek capacity on this benchmark's corpus, right after its load"},
        )
        baseline = asyncio.run(unfiltered_p50(url, queries))
        print(f"unfiltered p50 {baseline:.2f} ms; partial indexes for {mid} ...", flush=True)
        partial_rows = asyncio.run(partial(url, mid, by_name, queries))
        print(f"index kinds over {largest} ...", flush=True)
        kind_rows = asyncio.run(kinds(url, largest, queries, timings["index_seconds"]))
        meta = common.base_meta(url)

    for row in partial_rows:
        row["p50 / unfiltered"] = round(row["p50 ms"] / baseline, 2)
    own = [r for r in partial_rows if r["index"] == "partial HNSW index"]
    meta.update(
        {
            "rows": args.rows,
            "base_chunks": args.base,
            "queries_per_tenant": len(texts),
            "unfiltered_p50_ms": baseline,
            "mid_tenants": {t: {"rows": by_name[t], "share": round(by_name[t] / args.rows, 5)} for t in mid},
            "kind_tenants": {t: by_name[t] for t in largest},
            "tuning": {"ef_search": corpus.EF_SEARCH, "max_scan_tuples": corpus.MAX_SCAN_TUPLES, "exact_below": 0},
            "targets": {"recall_at_10": RECALL_TARGET, "p50_over_unfiltered": LATENCY_TARGET},
            "partial_recall_within_target": all(r["recall@10"] >= RECALL_TARGET for r in own),
            "partial_latency_within_target": all(r["p50 / unfiltered"] <= LATENCY_TARGET for r in own),
            **timings,
        }
    )
    common.write_results(
        "indexes_partial",
        partial_rows,
        meta,
        plot={
            "labels": [
                f"{r['tenant']} {'partial' if r['index'] == 'partial HNSW index' else 'shared'}" for r in partial_rows
            ],
            "values": {"recall@10": [r["recall@10"] for r in partial_rows]},
            "ylabel": "recall@10",
            "title": f"Mid-size tenants, {args.rows:,} chunks: shared HNSW (iterative) vs partial index",
            "target": RECALL_TARGET,
            "target_label": f"target {RECALL_TARGET}",
        },
    )
    common.write_results(
        "indexes_kinds",
        kind_rows,
        meta,
        plot={
            "labels": [r["index"] for r in kind_rows],
            "values": {"recall@10": [r["recall@10"] for r in kind_rows]},
            "ylabel": "recall@10",
            "title": f"Index kinds, {args.rows:,} chunks, the {KIND_TENANTS} largest tenants",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
