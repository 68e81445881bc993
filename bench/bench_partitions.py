"""An embeddings table partitioned by tenant (decision 0031) against one unpartitioned table: HNSW build time, index
size, the largest graph a search walks, and per-tenant-size-class latency and recall@10.

    python bench/bench_partitions.py                  # 1,000,000 vectors of 64 dimensions, 50 queries per class
    python bench/bench_partitions.py --rows 300000    # a smaller corpus
    python bench/bench_partitions.py --quick          # 20,000 vectors, 10 queries per class: checks that it runs

Data: synthetic clustered unit vectors (``--clusters`` random unit centres, each vector a centre plus Gaussian noise
of ``--sigma`` per dimension, normalised), 64 dimensions by default (``--dims``) so that a million of them load,
index and search on a 2-core machine in minutes; a real model's 384 or 768 dimensions make every figure larger but
the comparison is the same. The rows belong to 100 tenants of Zipf-like sizes (bench_search.py's ``tenant_sizes``:
25 rows each plus the rest by weight 1/rank^1.1, so the largest holds about a quarter of the rows), drawn from the
same clusters, in one collection.

Layouts, in one embedded server (a throwaway pgseek home under /tmp, ``PGSEEK_BENCH_HOME`` to keep one):

- unpartitioned: one table with the columns and primary key of pgseek's embeddings table (``CREATE_EMBEDDINGS_TABLE``
  without the foreign key to ``chunks``, which this benchmark does not fill) and its (tenant_id, collection_id) index;
- partitioned: the same table ``PARTITION BY LIST (tenant_id)`` with pgseek's layout (``db.partitions.create_layout``:
  a DEFAULT partition hashed into ``--buckets`` buckets) and the ``--own`` largest tenants given their own partition
  by ``db.partitions.move_tenant`` (on the empty table, so the load routes their rows there directly).

Both are loaded by binary COPY and get pgseek's HNSW statement (``db.indexes.create_statement``: cosine, m 16,
ef_construction 64) with the same maintenance_work_mem (pgseek's embedded server setting) and the server's
max_parallel_maintenance_workers; on the partitioned table the CREATE INDEX on the parent builds one graph per leaf.

Searches: pgseek's shape without its joins to chunks and documents (``VECTOR_SEARCH``: a materialised CTE
``WHERE tenant_id = ... AND collection_id = ... ORDER BY embedding <=> query LIMIT 10``, re-sorted outside) under
pgseek's iterative-scan settings (``queries.iterative_scan``: relaxed order, ef_search and max_scan_tuples from
``Settings``' defaults, 40 and 20,000), timed per transaction on one connection without server-side prepared
statements (as pgseek's pool). Ground truth: the same statement with ``SET LOCAL enable_indexscan = off``
(``SET_LOCAL_EXACT_SCAN``, pgseek's exact plan) on the unpartitioned table. The partitioned table's exact search is
run too, compared with it ("exact = truth") and its plan named ("exact plan"): with enable_indexscan = off alone,
PostgreSQL 18.4 gave a tenant with its own partition that partition's HNSW index scan (marked Disabled), so pgseek's
exact search also orders by the distance plus zero (``queries.vector_order``), which this bench uses too; the plans
of each class's first query are kept in the JSON. Size
classes: large (the tenants with their own partition), medium (tenants ranked just below them, 0.5% to 5% of the
rows), small (the smallest tenants); ``--queries`` queries per class, spread over up to 5 tenants, each run once
untimed before the timed pass, the layouts alternating query by query. Figures are reported, never asserted; the
machine is shared, so latencies carry its noise.

Writes ``bench/results/partitions.{json,png}`` (``partitions_quick`` with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_search as corpus
import common

K = 10
COLLECTION_ID = 1
FLAT = "bench_flat"
PART = "bench_part"
CLASS_TENANTS = 5
MEDIUM_SHARE = (0.005, 0.05)
COPY_BATCH = 50_000

CREATE_TABLE = sql.SQL("""
CREATE TABLE {table} (
    chunk_id       bigint NOT NULL,
    tenant_id      text NOT NULL,
    collection_id  integer NOT NULL,
    embedding      vector({dims}) NOT NULL,
    PRIMARY KEY (tenant_id, chunk_id)
){partition}""")
SCOPE_INDEX = sql.SQL("CREATE INDEX {name} ON {table} (tenant_id, collection_id)")
COPY = sql.SQL("COPY {table} (chunk_id, tenant_id, collection_id, embedding) FROM STDIN WITH (FORMAT BINARY)")
SEARCH = sql.SQL("""/* bench {plan} */
WITH nearest AS MATERIALIZED (
    SELECT e.chunk_id, e.embedding <=> %(query)s AS value
    FROM {table} e
    WHERE e.tenant_id = %(tenant)s AND e.collection_id = %(collection)s
    ORDER BY {order}
    LIMIT %(k)s
)
SELECT chunk_id FROM nearest ORDER BY value""")
# The leaves of a partitioned relation (table or index), or the relation itself when it is not partitioned
# (pg_partition_tree returns nothing for a plain table or index).
LEAVES = """
SELECT relid FROM pg_partition_tree(%(rel)s::regclass) WHERE isleaf
UNION SELECT %(rel)s::regclass WHERE (SELECT relkind FROM pg_class WHERE oid = %(rel)s::regclass) NOT IN ('p', 'I')"""
LEAF_INDEXES = f"""
SELECT t.relid::regclass::text AS name, pg_relation_size(t.relid) AS bytes, i.indrelid::regclass::text AS leaf
FROM ({LEAVES}) t JOIN pg_index i ON i.indexrelid = t.relid
ORDER BY bytes DESC"""
ALL_INDEXES = f"SELECT coalesce(sum(pg_indexes_size(relid)), 0) FROM ({LEAVES}) t"
LEAF_ROWS = "SELECT count(*) FROM {table}"


@dataclass
class Measure:
    recall: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    exact_ms: list[float] = field(default_factory=list)
    exact_agrees: list[bool] = field(default_factory=list)
    """Whether this layout's exact search found the same rows as the unpartitioned table's (the truth)."""


def clustered_vectors(rows: int, dims: int, centres: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``rows`` unit vectors, each a random centre plus Gaussian noise, normalised; built in slices to bound memory."""
    out = np.empty((rows, dims), dtype=np.float32)
    for start in range(0, rows, 100_000):
        stop = min(rows, start + 100_000)
        picked = centres[rng.integers(0, len(centres), stop - start)]
        block = picked + rng.normal(0.0, sigma, (stop - start, dims)).astype(np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _spread(items: Sequence[str], count: int) -> list[str]:
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / max(count - 1, 1)
    return [items[round(i * step)] for i in range(count)]


def size_classes(names: Sequence[str], sizes: np.ndarray, own: int) -> dict[str, list[str]]:
    """large: the ``own`` largest (their own partitions); medium: 0.5% to 5% of the rows, below those; small: the
    smallest."""
    order = [int(i) for i in np.argsort(-sizes, kind="stable")]
    shares = sizes / sizes.sum()
    medium = [names[i] for i in order[own:] if MEDIUM_SHARE[0] <= shares[i] <= MEDIUM_SHARE[1]]
    if not medium:  # a small corpus: the tenants ranked just below the large ones
        medium = [names[i] for i in order[own : own + CLASS_TENANTS]]
    return {
        "large": [names[i] for i in order[:own]],
        "medium": _spread(medium, CLASS_TENANTS),
        "small": [names[i] for i in order[-CLASS_TENANTS:]],
    }


async def load(conn: Any, table: str, chunk_ids: np.ndarray, tenants: Sequence[str], vectors: np.ndarray) -> float:
    started = time.perf_counter()
    for start in range(0, len(vectors), COPY_BATCH):
        async with conn.transaction(), conn.cursor() as cur, cur.copy(COPY.format(table=sql.Identifier(table))) as cp:
            cp.set_types(["int8", "text", "int4", "vector"])
            for i in range(start, min(len(vectors), start + COPY_BATCH)):
                await cp.write_row((int(chunk_ids[i]), tenants[i], COLLECTION_ID, vectors[i]))
    return time.perf_counter() - started


async def build(conn: Any, statement: sql.Composed, memory: str) -> float:
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (memory,))
        await conn.execute(statement)
    return time.perf_counter() - started


async def leaf_indexes(conn: Any, index: str) -> list[tuple[str, int, str]]:
    cur = await conn.execute(LEAF_INDEXES, {"rel": index})
    return [(str(r[0]), int(r[1]), str(r[2])) for r in await cur.fetchall()]


async def _prepared(conn: Any, table: str, settings: Any, exact: bool) -> sql.Composed:
    """pgseek's settings for the plan, SET LOCAL in the open transaction, and the search statement for it."""
    from pgseek.db import queries

    if exact:
        await conn.execute(queries.SET_LOCAL_EXACT_SCAN)
    else:
        await conn.execute(queries.iterative_scan(settings.ef_search, settings.max_scan_tuples))
    return SEARCH.format(
        plan=sql.SQL("exact" if exact else "iterative"),
        table=sql.Identifier(table),
        order=queries.vector_order(sql.SQL("<=>"), exact=exact),
    )


async def search(
    conn: Any, table: str, tenant: str, vector: np.ndarray, settings: Any, exact: bool
) -> tuple[list[int], float]:
    started = time.perf_counter()
    async with conn.transaction():
        statement = await _prepared(conn, table, settings, exact)
        cur = await conn.execute(statement, {"query": vector, "tenant": tenant, "collection": COLLECTION_ID, "k": K})
        ids = [int(r[0]) for r in await cur.fetchall()]
    return ids, (time.perf_counter() - started) * 1000


def scan_kind(plan: Sequence[str]) -> str:
    """What an "exact" search scanned: an HNSW index scan here means enable_indexscan = off did not keep the planner
    off the vector index, so that search was approximate."""
    if any("Index Scan using" in line and ("hnsw" in line or "embedding_idx" in line) for line in plan):
        return "HNSW scan"
    if any("Bitmap Heap Scan" in line for line in plan):
        return "bitmap + sort"
    return "seq + sort" if any("Seq Scan" in line for line in plan) else "other"


async def explain(conn: Any, table: str, tenant: str, vector: np.ndarray, settings: Any, exact: bool) -> list[str]:
    """The plan of one search, as EXPLAIN ANALYZE shows it (timings off): the scans it ran, on which leaves."""
    async with conn.transaction():
        statement = await _prepared(conn, table, settings, exact)
        cur = await conn.execute(
            sql.SQL("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ") + statement,
            {"query": vector, "tenant": tenant, "collection": COLLECTION_ID, "k": K},
        )
        return [str(r[0]) for r in await cur.fetchall()]


async def run(url: str, args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import indexes, partitions

    rng = np.random.default_rng(0)
    names = [f"t{r:03d}" for r in range(corpus.TENANTS)]
    sizes = corpus.tenant_sizes(args.rows)
    classes = size_classes(names, sizes, args.own)
    by_name = {n: int(s) for n, s in zip(names, sizes, strict=True)}
    centres = rng.normal(size=(args.clusters, args.dims)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    print(f"generating {args.rows:,} vectors of {args.dims} dimensions ...", flush=True)
    vectors = clustered_vectors(args.rows, args.dims, centres, args.sigma, rng)
    labels = rng.permutation(np.repeat(np.arange(corpus.TENANTS), sizes))
    row_tenants = [names[i] for i in labels]
    chunk_ids = np.arange(1, args.rows + 1, dtype=np.int64)
    plan: list[tuple[str, str, int]] = []  # (class, tenant, query number)
    for cls, members in classes.items():
        plan += [(cls, members[n % len(members)], n) for n in range(args.queries)]
    query_vectors = clustered_vectors(len(plan), args.dims, centres, args.sigma, rng)

    spec = indexes.IndexSpec(kind="hnsw", quantization="none", distance="cosine", dimensions=args.dims)
    options = indexes.BuildOptions(
        settings.hnsw_m, settings.hnsw_ef_construction, settings.embedded_maintenance_work_mem, 1
    )
    memory = settings.embedded_maintenance_work_mem
    layouts: dict[str, dict[str, Any]] = {FLAT: {"layout": "unpartitioned"}, PART: {"layout": "partitioned"}}

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
    async with conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await register_vector_async(conn)
        for table in (FLAT, PART):
            await conn.execute(sql.SQL("DROP TABLE IF EXISTS {t} CASCADE").format(t=sql.Identifier(table)))
        dims = sql.Literal(args.dims)
        await conn.execute(CREATE_TABLE.format(table=sql.Identifier(FLAT), dims=dims, partition=sql.SQL("")))
        await conn.execute(
            CREATE_TABLE.format(
                table=sql.Identifier(PART), dims=dims, partition=sql.SQL(" PARTITION BY LIST (tenant_id)")
            )
        )
        await partitions.create_layout(conn, PART, args.buckets)
        for tenant in classes["large"]:
            async with conn.transaction():
                await partitions.move_tenant(conn, PART, tenant, spec, "vector", options, has_index=False)
        cur = await conn.execute("SHOW max_parallel_maintenance_workers")
        row = await cur.fetchone()
        workers = int(row[0]) if row else 0

        for table in (FLAT, PART):
            print(f"{table}: COPY {args.rows:,} rows ...", flush=True)
            seconds = await load(conn, table, chunk_ids, row_tenants, vectors)
            started = time.perf_counter()
            await conn.execute(SCOPE_INDEX.format(name=sql.Identifier(f"{table}_scope"), table=sql.Identifier(table)))
            await conn.execute(sql.SQL("VACUUM ANALYZE {t}").format(t=sql.Identifier(table)))
            layouts[table].update(
                {"copy s": round(seconds, 1), "scope index + analyze s": round(time.perf_counter() - started, 1)}
            )
            print(f"  {layouts[table]}", flush=True)
        del vectors

        for table in (FLAT, PART):
            print(f"{table}: HNSW build ...", flush=True)
            seconds = await build(conn, indexes.create_statement(table, spec, "vector", options), memory)
            leaves = await leaf_indexes(conn, spec.name(table))
            cur = await conn.execute(ALL_INDEXES, {"rel": table})
            row = await cur.fetchone()
            _, largest_bytes, largest_leaf = leaves[0]
            cur = await conn.execute(sql.SQL(LEAF_ROWS).format(table=sql.Identifier(largest_leaf)))
            counted = await cur.fetchone()
            layouts[table].update(
                {
                    "build s": round(seconds, 1),
                    "hnsw bytes": sum(b for _, b, _ in leaves),
                    "all index bytes": int(row[0]) if row else 0,
                    "graphs": len(leaves),
                    "largest graph bytes": largest_bytes,
                    "largest graph leaf": largest_leaf,
                    "largest graph rows": int(counted[0]) if counted else 0,
                    "leaves": [{"index": n, "bytes": b, "leaf": leaf} for n, b, leaf in leaves],
                }
            )
            print(
                f"  build {seconds:.1f} s, HNSW {layouts[table]['hnsw bytes'] / 2**20:.1f} MiB, "
                f"largest graph {largest_bytes / 2**20:.1f} MiB ({largest_leaf})",
                flush=True,
            )

        print(f"searching: {len(plan)} queries per layout ...", flush=True)
        truths: dict[tuple[str, int], list[int]] = {}
        measures = {(t, c): Measure() for t in (FLAT, PART) for c in classes}
        for (cls, tenant, n), q in zip(plan, query_vectors, strict=True):
            for table in (FLAT, PART):
                ids, ms = await search(conn, table, tenant, q, settings, exact=True)
                truth = truths.setdefault((tenant, n), ids)
                measures[(table, cls)].exact_ms.append(ms)
                measures[(table, cls)].exact_agrees.append(set(ids) == set(truth))
        plans = {
            f"{table} {cls} {'exact' if exact else 'iterative'}": await explain(conn, table, tenant, q, settings, exact)
            for table in (FLAT, PART)
            for (cls, tenant, n), q in zip(plan, query_vectors, strict=True)
            if n == 0
            for exact in (True, False)
        }
        for (_, tenant, _), q in zip(plan, query_vectors, strict=True):  # warm-up: each index's pages read once
            for table in (FLAT, PART):
                await search(conn, table, tenant, q, settings, exact=False)
        for (cls, tenant, n), q in zip(plan, query_vectors, strict=True):
            truth = truths[(tenant, n)]
            for table in (FLAT, PART):
                ids, ms = await search(conn, table, tenant, q, settings, exact=False)
                m = measures[(table, cls)]
                m.ms.append(ms)
                m.recall.append(len(set(ids) & set(truth)) / max(1, min(K, len(truth))))

    rows: list[dict[str, Any]] = []
    for table in (FLAT, PART):
        info = layouts[table]
        for cls, members in classes.items():
            m = measures[(table, cls)]
            rows.append(
                {
                    "layout": info["layout"],
                    "class": cls,
                    "tenant rows": f"{min(by_name[t] for t in members):,}-{max(by_name[t] for t in members):,}",
                    "queries": len(m.ms),
                    "recall@10": round(float(np.mean(m.recall)), 4),
                    "p50 ms": round(common.percentile(m.ms, 50), 2),
                    "p99 ms": round(common.percentile(m.ms, 99), 2),
                    "exact p50 ms": round(common.percentile(m.exact_ms, 50), 2),
                    "exact = truth": f"{sum(m.exact_agrees)}/{len(m.exact_agrees)}",
                    "exact plan": scan_kind(plans[f"{table} {cls} exact"]),
                    "build s": info["build s"],
                    "HNSW MiB": round(info["hnsw bytes"] / 2**20, 1),
                    "largest graph MiB": round(info["largest graph bytes"] / 2**20, 1),
                }
            )
    return {
        "rows": rows,
        "layouts": layouts,
        "classes": {c: {t: by_name[t] for t in members} for c, members in classes.items()},
        "plans": plans,
        "max_parallel_maintenance_workers": workers,
        "maintenance_work_mem": memory,
    }


def plot(path: Path, rows: list[dict[str, Any]], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(dict.fromkeys(r["class"] for r in rows))
    layouts = list(dict.fromkeys(r["layout"] for r in rows))
    x = np.arange(len(classes))
    width = 0.8 / len(layouts)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("p99 ms", "recall@10"), strict=True):
        for i, layout in enumerate(layouts):
            ys = [next(r[metric] for r in rows if r["layout"] == layout and r["class"] == c) for c in classes]
            bars = ax.bar(x + (i - (len(layouts) - 1) / 2) * width, ys, width, label=layout)
            ax.bar_label(bars, labels=[f"{y:.3g}" for y in ys], fontsize=8)
        ax.set_xticks(x, classes)
        ax.set_xlabel("tenant size class")
        ax.set_ylabel(metric)
        ax.set_ylim(0, max(1.0, max(r[metric] for r in rows)) * 1.25)  # room for the legend above the bars
        ax.legend(fontsize=8, loc="upper center", ncol=len(layouts))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="vectors in all (default 1,000,000)")
    parser.add_argument("--dims", type=int, default=64, help="dimensions (default 64, to fit a 2-core machine)")
    parser.add_argument("--buckets", type=int, default=16, help="hash buckets of the default partition (default 16)")
    parser.add_argument("--own", type=int, default=3, help="largest tenants given their own partition (default 3)")
    parser.add_argument("--queries", type=int, default=50, help="queries per size class (default 50)")
    parser.add_argument("--clusters", type=int, default=1000, help="cluster centres of the vectors (default 1,000)")
    parser.add_argument("--sigma", type=float, default=0.1, help="noise per dimension around a centre (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="20,000 vectors, 10 queries per class; partitions_quick")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.queries = 20_000, 10

    from pgseek.db.connect import embedded_server

    with common.bench_home() as home:
        settings = common.settings_for(home)
        url = embedded_server(settings).start()
        result = asyncio.run(run(url, args, settings))
        meta = common.base_meta(url)

    name = "partitions_quick" if args.quick else "partitions"
    meta.update(
        {
            "rows": args.rows,
            "dims": args.dims,
            "tenants": corpus.TENANTS,
            "buckets": args.buckets,
            "own_partitions": args.own,
            "queries_per_class": args.queries,
            "clusters": args.clusters,
            "sigma": args.sigma,
            "tuning": {
                "ef_search": settings.ef_search,
                "max_scan_tuples": settings.max_scan_tuples,
                "iterative_scan": "relaxed_order",
                "hnsw_m": settings.hnsw_m,
                "hnsw_ef_construction": settings.hnsw_ef_construction,
                "exact_search_below": settings.exact_search_below,
            },
            **{k: v for k, v in result.items() if k != "rows"},
        }
    )
    common.write_results(name, result["rows"], meta)
    png = plot(
        common.RESULTS / f"{name}.png",
        result["rows"],
        f"{args.rows:,} vectors x {args.dims} dims, 100 tenants: unpartitioned vs partitioned by tenant "
        f"({args.buckets} hash buckets + {args.own} own partitions), ef_search {settings.ef_search}",
    )
    print(f"wrote {png.relative_to(common.REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
