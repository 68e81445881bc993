"""Filtered vector search over many tenants of Zipf-like sizes, and the latency of hybrid search against vector-only.

    python bench/bench_search.py                                       # 200,000 chunks, 2,000 embedded, 50 queries
    python bench/bench_search.py --rows 20000 --base 300 --queries 10  # quick run

Data: the first ``--base`` SciFact documents (title + abstract, cut to 200 word pieces) are embedded for real with
pgseek's model; ``--rows`` synthetic chunks repeat them, chunk i taking base chunk i % base's text and its vector
plus gaussian noise (sigma 0.06 per dimension, numpy seed 0), renormalised: near-duplicates that keep the corpus's
structure. The chunks are spread over 100 tenants t000..t099 with Zipf-like sizes (weight 1/rank^1.1, at least 25
each) in a random interleaved order, and written with pgseek's own write path (``writes.write_documents``, one
document per chunk) into collection ``bench_filtered``; then the HNSW index (m 16, ef_construction 64) and ANALYZE.

Filtered recall (``search_filtered``): for each of the 10 smallest tenants (each < 0.5% of the rows) and each query,
the exact top 10 within the tenant (no index) is the ground truth; each variant reports rows returned, recall@10
and the p50/p99 latency of the database call (the whole transaction: tenant scope, settings, query):

    hnsw, iterative off     ef_search 40, the HNSW index forced (enable_sort off): the classic filtered-HNSW failure
    hnsw, relaxed_order     pgvector 0.8 iterative scan, max_scan_tuples 20,000, HNSW forced
    hnsw, strict_order      the same in strict order
    postgres planner        iterative off, ef_search 40, nothing forced: what a plain pgvector query gets
    pgseek planner          db_search.vector_search with VectorTuning(40, 20000, 5000): exact or iterative, by estimate

The baseline is the unfiltered query (as the owner, no tenant scope and no tenant condition, HNSW, ef_search 40);
each variant's p50 is divided by its p50. Target: pgseek returns 10 rows whenever 10 match, recall@10 >= 0.95, at no
more than 2x the unfiltered latency.

Latency by mode (``search_hybrid``): through ``Seek.search``, modes vector, keyword and hybrid, the keyword leg
bounded (decision 0024) and, swapped in for the same search, the full scan it replaced (``keyword_latency.py``);
every mode per query, order rotated. Two corpora: SciFact (the ``--base`` real chunks and vectors, one tenant,
collection ``bench_scifact``) and the largest tenant of the synthetic corpus. p50/p99 of ``timings_ms.total`` and
``.search``, p50 over vector's, and the share of queries whose top 10 equals the full scan's. ``--skip-filtered``
runs this part alone. Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import keyword_latency

COLLECTION = "bench_filtered"
SCIFACT = "bench_scifact"
SCIFACT_TENANT = "scifact"
TENANTS = 100
ZIPF_EXPONENT = 1.1
MIN_TENANT_ROWS = 25
SMALL_TENANTS = 10
SMALL_SHARE = 0.005
# At 0.03 the copies of one base chunk form clusters so tight that the HNSW graph navigates poorly between them
# (unfiltered ef_search 40 recall@10 0.78, some queries 0.0, at 20,000 rows): an artefact of the synthetic data.
# At 0.06 a copy keeps cosine ~0.65 to its base chunk, copies stay distinct and the corpus's structure holds.
NOISE_SIGMA = 0.06
CHUNK_TOKENS = 200
EMBED_BATCH = 64
WRITE_BATCH = 1_000
K = 10
EF_SEARCH = 40
MAX_SCAN_TUPLES = 20_000
EXACT_BELOW = 5_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
INDEX_MEMORY = "1GB"
WARMUP_QUERIES = 3
RECALL_TARGET = 0.95
LATENCY_TARGET = 2.0

# The shape of queries.VECTOR_SEARCH without the tenant condition: the owner bypasses row-level security.
UNFILTERED_SEARCH = """
WITH nearest AS MATERIALIZED (
    SELECT c.id, d.external_id, d.title, d.source, c.text, c.position, d.metadata, c.heading_path,
           c.char_start, c.char_end, e.embedding <=> %(query)s AS distance
    FROM {table} e
    JOIN chunks c ON c.id = e.chunk_id
    JOIN documents d ON d.id = c.document_id
    WHERE e.collection_id = %(collection)s
    ORDER BY e.embedding <=> %(query)s
    LIMIT %(k)s
)
SELECT * FROM nearest ORDER BY distance"""

DATA_NOTE = (
    "SciFact title + abstract cut to {tokens} word pieces, embedded with pgseek's model (purpose=document); chunk i "
    "takes base chunk i % base's text and vector + N(0, {sigma}^2) per dimension (numpy default_rng(0)), renormalised; "
    "tenants t000..t099 with sizes {floor} + floor(share of the rest by weight 1/rank^{s}), rows assigned in a random "
    "permutation (interleaved); one document per chunk, written with db_writes.write_documents in transactions of "
    "{batch} consecutive chunks (one write_documents call per tenant inside)"
)
LATENCY_NOTE = (
    "milliseconds of the whole database call on one psycopg AsyncConnection (autocommit, register_vector_async): "
    "BEGIN, tenant scope, settings (one set_config round trip; pgseek: its EXPLAIN estimate and two set_config), the "
    "query, fetch, COMMIT; {warmup} warm-up queries per tenant first, untimed"
)


@dataclass(frozen=True, slots=True)
class Variant:
    key: str
    label: str
    settings: dict[str, str] = field(default_factory=dict)


HNSW_OFF = Variant(
    "hnsw_off",
    "hnsw, iterative off",
    {"hnsw.ef_search": str(EF_SEARCH), "hnsw.iterative_scan": "off", "enable_sort": "off"},
)
HNSW_RELAXED = Variant(
    "hnsw_relaxed",
    "hnsw, relaxed_order",
    {
        "hnsw.ef_search": str(EF_SEARCH),
        "hnsw.iterative_scan": "relaxed_order",
        "hnsw.max_scan_tuples": str(MAX_SCAN_TUPLES),
        "enable_sort": "off",
    },
)
HNSW_STRICT = Variant(
    "hnsw_strict",
    "hnsw, strict_order",
    {
        "hnsw.ef_search": str(EF_SEARCH),
        "hnsw.iterative_scan": "strict_order",
        "hnsw.max_scan_tuples": str(MAX_SCAN_TUPLES),
        "enable_sort": "off",
    },
)
STOCK = Variant("postgres", "postgres planner, iterative off", {"hnsw.ef_search": str(EF_SEARCH)})
EXACT = Variant("exact", "exact scan (ground truth)", {"enable_indexscan": "off"})
PGSEEK = Variant("pgseek", "pgseek planner")
UNFILTERED = Variant("unfiltered", "unfiltered baseline (hnsw, ef 40)", {"hnsw.ef_search": str(EF_SEARCH)})
SQL_VARIANTS = (HNSW_OFF, HNSW_RELAXED, HNSW_STRICT, STOCK)


@dataclass
class Measure:
    """One variant over many queries: rows returned, recall@k against the ground truth, latency."""

    rows: list[int] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    plans: Counter[str] = field(default_factory=Counter)
    estimates: list[int] = field(default_factory=list)
    """pgseek only: the planner's estimate of the matching rows, which chose the plan."""

    def add(self, ids: Sequence[int], truth: Sequence[int] | None, ms: float) -> None:
        self.rows.append(len(ids))
        self.ms.append(ms)
        if truth is not None:
            self.recall.append(len(set(ids) & set(truth)) / max(1, min(K, len(truth))))


# --- data ---------------------------------------------------------------------------------------------------------


def tenant_sizes(rows: int) -> np.ndarray:
    """Rows per tenant, largest first: MIN_TENANT_ROWS each plus the rest shared by weight 1/rank^ZIPF_EXPONENT."""
    spare = rows - MIN_TENANT_ROWS * TENANTS
    if spare < 0:
        sys.exit(f"--rows must be at least {MIN_TENANT_ROWS * TENANTS:,} ({TENANTS} tenants of >= {MIN_TENANT_ROWS})")
    weights = 1.0 / np.arange(1, TENANTS + 1, dtype=np.float64) ** ZIPF_EXPONENT
    extra = np.floor(weights / weights.sum() * spare).astype(np.int64)
    extra[0] += spare - int(extra.sum())
    sizes: np.ndarray = MIN_TENANT_ROWS + extra
    return sizes


def base_chunks(embedder: Any, base: int) -> tuple[list[str], list[str], np.ndarray]:
    """Titles, texts (title + abstract cut to CHUNK_TOKENS word pieces) and document vectors of ``base`` chunks."""
    corpus = [d for d in common.load_corpus() if str(d.get("text") or "").strip()][:base]
    if len(corpus) < base:
        sys.exit(f"--base {base:,} asks for more SciFact documents than there are ({len(corpus):,})")
    titles: list[str] = []
    texts: list[str] = []
    for d in corpus:
        title = str(d.get("title") or "").strip()
        text = f"{title}\n\n{d['text']}".strip() if title else str(d["text"]).strip()
        spans = embedder.counter.token_spans(text)
        if len(spans) > CHUNK_TOKENS:
            text = text[: spans[CHUNK_TOKENS - 1][1]]
        titles.append(title)
        texts.append(text)
    started = time.perf_counter()
    parts: list[np.ndarray] = []
    for i in range(0, len(texts), EMBED_BATCH):
        parts.append(np.asarray(embedder.embed(texts[i : i + EMBED_BATCH], purpose="document"), dtype=np.float32))
        done = min(len(texts), i + EMBED_BATCH)
        if done == len(texts) or (i // EMBED_BATCH) % 8 == 7:
            print(f"  embedded {done:,}/{len(texts):,} base chunks ({time.perf_counter() - started:.0f} s)", flush=True)
    return titles, texts, np.concatenate(parts)


def synthetic_vectors(base_vectors: np.ndarray, rows: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    vectors = base_vectors[np.arange(rows) % len(base_vectors)].copy()
    vectors += rng.normal(0.0, sigma, size=vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


# --- load ---------------------------------------------------------------------------------------------------------


async def load(
    url: str,
    info: Any,
    names: list[str],
    labels: np.ndarray,
    titles: list[str],
    texts: list[str],
    vectors: np.ndarray,
    collection_name: str = COLLECTION,
) -> dict[str, float]:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog
    from pgseek.db import versions as db_versions
    from pgseek.db import writes as db_writes
    from pgseek.ingest.pipeline import embed_hash
    from pgseek.types import Chunk, Document

    rows = len(labels)
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn:
        await register_vector_async(conn)
        async with conn.transaction():
            await db_catalog.setup_lock(conn)
            for name in names:
                await db_catalog.ensure_tenant(conn, name)
            collection = await db_catalog.get_collection(conn, collection_name, create=True, distance="cosine")
            collection = await db_catalog.ensure_active_version(
                conn, collection, info, chunk_tokens=200, chunk_overlap=32
            )
        version = (await db_versions.live_versions(conn, collection.id))[0]

        def pending(i: int) -> db_writes.PendingDocument:
            text = texts[i % len(texts)]
            tenant = names[labels[i]]
            doc = Document(external_id=f"{tenant}/{i}", text=text, title=titles[i % len(texts)] or None)
            digest = hashlib.sha256(f"{doc.external_id}\0{text}".encode()).hexdigest()
            chunk = Chunk(position=0, text=text, start=0, end=len(text), token_count=len(text.split()))
            hashes = [embed_hash(text, info)]
            rows = db_writes.VersionRows(version, [chunk], vectors[i : i + 1], hashes)
            return db_writes.PendingDocument(doc, digest, [rows])

        started = time.perf_counter()
        step = max(WRITE_BATCH, rows // 10 // WRITE_BATCH * WRITE_BATCH)
        for start in range(0, rows, WRITE_BATCH):
            by_tenant: dict[int, list[db_writes.PendingDocument]] = defaultdict(list)
            for i in range(start, min(rows, start + WRITE_BATCH)):
                by_tenant[int(labels[i])].append(pending(i))
            async with conn.transaction():
                for label, batch in by_tenant.items():
                    await db_writes.write_documents(conn, names[label], collection, [version.id], batch)
            done = min(rows, start + WRITE_BATCH)
            if done == rows or done % step == 0:
                elapsed = time.perf_counter() - started
                print(f"  wrote {done:,}/{rows:,} chunks ({elapsed:.0f} s, {done / elapsed:,.0f} rows/s)", flush=True)
        load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        await db_writes.ensure_hnsw_index(
            conn, str(collection.table), "cosine", m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, memory=INDEX_MEMORY
        )
        index_seconds = time.perf_counter() - started
        print(f"  HNSW index built in {index_seconds:.1f} s", flush=True)
        started = time.perf_counter()
        await db_writes.analyze(conn, [str(collection.table), "chunks", "documents"])
        analyze_seconds = time.perf_counter() - started
    return {"load_seconds": load_seconds, "index_seconds": index_seconds, "analyze_seconds": analyze_seconds}


# --- filtered search ----------------------------------------------------------------------------------------------


def _settings_statement(settings: dict[str, str]) -> tuple[Any, list[str]]:
    from psycopg import sql

    calls = [sql.SQL("set_config({}, %s, true)").format(sql.Literal(name)) for name in settings]
    return sql.SQL("SELECT ") + sql.SQL(", ").join(calls), list(settings.values())


def _indexes(plan: Any) -> set[str]:
    """Names of the indexes a JSON plan reads, and "seq" for a sequential scan."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(str(plan["Index Name"]))
        if plan.get("Node Type") == "Seq Scan" and str(plan.get("Relation Name", "")).startswith("embeddings_"):
            found.add("seq")
        for value in plan.values():
            found |= _indexes(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _indexes(value)
    return found


def _access(plan: Any, table: str) -> str:
    """How a plan reaches the embeddings table: "hnsw", "btree (tenant)", "seq scan" or by primary key."""
    names = _indexes(plan)
    if any("hnsw" in n for n in names):
        return "hnsw"
    if f"{table}_scope_idx" in names:
        return "btree (tenant)"
    if "seq" in names:
        return "seq scan"
    if f"{table}_pkey" in names:
        return "pkey (driven by chunks/documents)"
    return "other"


class Searcher:
    """Runs one query shape under one set of settings on the bench's own connection, timing the database call."""

    def __init__(self, conn: Any, table: str, collection: Any) -> None:
        from psycopg import sql

        from pgseek.db import queries

        self.conn = conn
        self.table = table
        self.collection = collection
        self._filtered = queries.VECTOR_SEARCH.format(
            operator=sql.SQL("<=>"),
            table=sql.Identifier(table),
            filter=sql.SQL("TRUE"),
            plan=sql.SQL("bench"),
            order=queries.vector_order(sql.SQL("<=>"), exact=False),
        )
        self._unfiltered = sql.SQL(UNFILTERED_SEARCH).format(table=sql.Identifier(table))

    def statement(self, variant: Variant, tenant: str | None) -> Any:
        """The query, tagged with the variant: a distinct text is a distinct prepared statement with its own plan.

        psycopg prepares a statement after 5 executions and PostgreSQL may then keep a generic plan, which the
        enable_* settings of later transactions do not change: one shared text would carry one variant's plan into
        the others.
        """
        from psycopg import sql

        return sql.SQL(f"/* bench {variant.key} */ ") + (self._filtered if tenant is not None else self._unfiltered)

    def _values(self, tenant: str | None, vector: np.ndarray) -> dict[str, Any]:
        values: dict[str, Any] = {"query": vector, "collection": self.collection.id, "k": K}
        if tenant is not None:
            values["tenant"] = tenant
        return values

    async def run(self, variant: Variant, tenant: str | None, vector: np.ndarray) -> tuple[list[int], float]:
        """Chunk ids of the top K and the milliseconds of the call; ``tenant`` None: the unfiltered query."""
        from pgseek.db import scope as db_scope

        statement, params = _settings_statement(variant.settings)
        started = time.perf_counter()
        async with self.conn.transaction():
            if tenant is not None:
                await db_scope.enter_tenant(self.conn, tenant)
            if params:
                await self.conn.execute(statement, params)
            cur = await self.conn.execute(self.statement(variant, tenant), self._values(tenant, vector))
            rows = await cur.fetchall()
        return [int(r[0]) for r in rows], (time.perf_counter() - started) * 1000

    async def explain(self, variant: Variant, tenant: str | None, vector: np.ndarray) -> str:
        from psycopg import sql

        from pgseek.db import scope as db_scope

        statement, params = _settings_statement(variant.settings)
        async with self.conn.transaction():
            if tenant is not None:
                await db_scope.enter_tenant(self.conn, tenant)
            if params:
                await self.conn.execute(statement, params)
            query = sql.SQL("EXPLAIN (FORMAT JSON) ") + self.statement(variant, tenant)
            cur = await self.conn.execute(query, self._values(tenant, vector))
            row = await cur.fetchone()
        return _access(row[0] if row else None, self.table)

    async def pgseek(self, tenant: str, vector: np.ndarray) -> tuple[list[int], float, Any]:
        from pgseek.db import scope as db_scope
        from pgseek.db import search as db_search

        tuning = db_search.VectorTuning(EF_SEARCH, MAX_SCAN_TUPLES, EXACT_BELOW)
        started = time.perf_counter()
        async with self.conn.transaction():
            scope = await db_scope.enter_tenant(self.conn, tenant)
            rows, plan = await db_search.vector_search(scope, self.table, self.collection, vector, k=K, tuning=tuning)
        return [r.chunk_id for r in rows], (time.perf_counter() - started) * 1000, plan


async def _prepared(conn: Any) -> list[dict[str, Any]]:
    """The connection's server-side prepared statements: how often each ran a generic (cached) or a custom plan."""
    cur = await conn.execute(
        "SELECT left(regexp_replace(statement, '\\s+', ' ', 'g'), 90), generic_plans, custom_plans "
        "FROM pg_prepared_statements ORDER BY generic_plans + custom_plans DESC"
    )
    return [{"statement": r[0], "generic_plans": r[1], "custom_plans": r[2]} for r in await cur.fetchall()]


async def filtered(
    url: str, small: list[str], largest: str, query_vectors: np.ndarray
) -> tuple[dict[str, Measure], dict[str, Measure], dict[str, Any]]:
    """Measures per variant over the smallest tenants, and (pgseek, exact) on the largest tenant for context.

    Two connections with psycopg's defaults (statements prepared after 5 executions), as pgseek's pool has them
    outside transaction pooling: one for the bench's own SQL, one for db_search.vector_search alone, so that the
    prepared-statement history of pgseek's VECTOR_SEARCH is its own, as it would be in a pgseek process.
    """
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog

    measures = {v.key: Measure() for v in (EXACT, *SQL_VARIANTS, PGSEEK, UNFILTERED)}
    context = {v.key: Measure() for v in (EXACT, PGSEEK)}
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    ours = await psycopg.AsyncConnection.connect(url, autocommit=True)
    async with conn, ours:
        await register_vector_async(conn)
        await register_vector_async(ours)
        collection = await db_catalog.get_collection(conn, COLLECTION)
        table = collection.table
        assert table is not None
        s = Searcher(conn, table, collection)
        p = Searcher(ours, table, collection)

        # The unfiltered baseline, with its own exact ground truth (a sequential scan of every row).
        exact_all = Variant("exact_all", "exact, unfiltered", {"enable_indexscan": "off"})
        measures[UNFILTERED.key].plans[await s.explain(UNFILTERED, None, query_vectors[0])] += 1
        for v in query_vectors[:WARMUP_QUERIES]:
            await s.run(UNFILTERED, None, v)
        for v in query_vectors:
            truth, _ = await s.run(exact_all, None, v)
            ids, ms = await s.run(UNFILTERED, None, v)
            measures[UNFILTERED.key].add(ids, truth, ms)
        print(f"  unfiltered baseline: p50 {common.percentile(measures[UNFILTERED.key].ms, 50):.2f} ms", flush=True)

        for n, tenant in enumerate(small, 1):
            for variant in (EXACT, *SQL_VARIANTS):
                measures[variant.key].plans[await s.explain(variant, tenant, query_vectors[0])] += 1
            for v in query_vectors[:WARMUP_QUERIES]:
                for variant in (EXACT, *SQL_VARIANTS):
                    await s.run(variant, tenant, v)
                await p.pgseek(tenant, v)
            for v in query_vectors:
                truth, ms = await s.run(EXACT, tenant, v)
                measures[EXACT.key].add(truth, truth, ms)
                for variant in SQL_VARIANTS:
                    ids, ms = await s.run(variant, tenant, v)
                    measures[variant.key].add(ids, truth, ms)
                ids, ms, plan = await p.pgseek(tenant, v)
                measures[PGSEEK.key].add(ids, truth, ms)
                measures[PGSEEK.key].plans[plan.kind] += 1
                measures[PGSEEK.key].estimates.append(plan.estimated_rows)
            summary = ", ".join(
                f"{v.key} {np.mean(measures[v.key].rows[-len(query_vectors) :]):.1f} rows "
                f"r@10 {np.mean(measures[v.key].recall[-len(query_vectors) :]):.2f}"
                for v in (*SQL_VARIANTS, PGSEEK)
            )
            print(f"  tenant {tenant} ({n}/{len(small)}): {summary}", flush=True)

        for v in query_vectors[:WARMUP_QUERIES]:
            await p.pgseek(largest, v)
        for v in query_vectors:
            truth, ms = await s.run(EXACT, largest, v)
            context[EXACT.key].add(truth, truth, ms)
            ids, ms, plan = await p.pgseek(largest, v)
            context[PGSEEK.key].add(ids, truth, ms)
            context[PGSEEK.key].plans[plan.kind] += 1
            context[PGSEEK.key].estimates.append(plan.estimated_rows)
        prepared = {"bench_sql": await _prepared(conn), "pgseek_vector_search": await _prepared(ours)}
    return measures, context, prepared


# --- report -------------------------------------------------------------------------------------------------------


def _span(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def _row(variant: Variant, m: Measure, baseline_p50: float, tenants: str, matching: Sequence[int]) -> dict[str, Any]:
    p50 = common.percentile(m.ms, 50)
    return {
        "variant": variant.label,
        "tenants": tenants,
        "matching rows": _span(matching),
        "pgseek estimate": _span(m.estimates) if m.estimates else "",
        "plan": ", ".join(f"{name} x{count}" for name, count in sorted(m.plans.items())),
        "queries": len(m.rows),
        "mean rows": float(np.mean(m.rows)) if m.rows else float("nan"),
        "min rows": int(min(m.rows)) if m.rows else 0,
        "share with 10": float(np.mean([r >= K for r in m.rows])) if m.rows else float("nan"),
        "recall@10": float(np.mean(m.recall)) if m.recall else float("nan"),
        "min recall@10": float(min(m.recall)) if m.recall else float("nan"),
        "p50 ms": p50,
        "p99 ms": common.percentile(m.ms, 99),
        "p50 / unfiltered": p50 / baseline_p50,
    }


SHORT_LABELS = {
    HNSW_OFF.label: "hnsw\niterative off",
    HNSW_RELAXED.label: "hnsw\nrelaxed",
    HNSW_STRICT.label: "hnsw\nstrict",
    STOCK.label: "postgres\nplanner",
    PGSEEK.label: "pgseek\nplanner",
    EXACT.label: "exact",
    UNFILTERED.label: "unfiltered\nhnsw ef 40",
}


def plot_labels(table: Sequence[dict[str, Any]]) -> list[str]:
    return [
        SHORT_LABELS.get(r["variant"], r["variant"]) + ("\n(largest tenant)" if "largest" in r["tenants"] else "")
        for r in table
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic chunks in all (default 200,000)")
    parser.add_argument("--base", type=int, default=2_000, help="SciFact chunks embedded for real (default 2,000)")
    parser.add_argument("--queries", type=int, default=50, help="SciFact queries per small tenant (default 50)")
    parser.add_argument("--sigma", type=float, default=NOISE_SIGMA, help=f"noise per dimension (default {NOISE_SIGMA})")
    parser.add_argument("--hybrid-queries", type=int, default=100, help="queries for hybrid vs vector (default 100)")
    parser.add_argument(
        "--skip-filtered", action="store_true", help="only the latency of the modes (search_hybrid), not recall"
    )
    args = parser.parse_args(argv)

    from pgseek import Seek

    sizes = tenant_sizes(args.rows)
    names = [f"t{r:03d}" for r in range(TENANTS)]
    shares = sizes / sizes.sum()
    small = [names[i] for i in np.argsort(sizes, kind="stable")[:SMALL_TENANTS]]
    largest = names[int(np.argmax(sizes))]
    small_shares = {t: float(shares[names.index(t)]) for t in small}
    print(
        f"{args.rows:,} chunks over {TENANTS} tenants: largest {largest} {int(sizes.max()):,} rows "
        f"({shares.max():.1%}); the {SMALL_TENANTS} smallest hold "
        f"{int(sizes.min()):,}-{int(sorted(sizes)[SMALL_TENANTS - 1]):,} rows "
        f"({min(small_shares.values()):.2%}-{max(small_shares.values()):.2%} each)",
        flush=True,
    )
    over = [t for t, share in small_shares.items() if share >= SMALL_SHARE]
    if over:
        print(f"warning: tenants {over} hold >= {SMALL_SHARE:.1%} of the rows", file=sys.stderr)

    all_queries = [text for _, text in common.load_test_queries()]
    filtered_queries = all_queries[: args.queries]
    hybrid_queries = all_queries[: args.hybrid_queries]

    with common.bench_home() as home:
        settings = common.settings_for(home)
        with Seek(settings) as seek:
            t0 = time.perf_counter()
            seek.status()
            url = seek._core._url
            assert url is not None
            embedder = seek.embedder()
            print(f"database and model ready in {time.perf_counter() - t0:.1f} s; embedding ...", flush=True)
            t0 = time.perf_counter()
            titles, texts, base_vectors = base_chunks(embedder, args.base)
            embed_seconds = time.perf_counter() - t0
            rng = np.random.default_rng(0)
            vectors = synthetic_vectors(base_vectors, args.rows, args.sigma, rng)
            labels = rng.permutation(np.repeat(np.arange(TENANTS), sizes))
            query_vectors = np.asarray(embedder.embed(filtered_queries, purpose="query"), dtype=np.float32)

            print(f"writing {args.rows:,} chunks with db_writes.write_documents ...", flush=True)
            timings = asyncio.run(load(url, embedder.info, names, labels, titles, texts, vectors))
            del vectors

            print(f"SciFact: the {args.base:,} base chunks, real vectors, one tenant ...", flush=True)
            zeros = np.zeros(args.base, dtype=np.int64)
            asyncio.run(load(url, embedder.info, [SCIFACT_TENANT], zeros, titles, texts, base_vectors, SCIFACT))

            if not args.skip_filtered:
                print(f"filtered search: {len(filtered_queries)} queries x {len(small)} tenants ...", flush=True)
                measures, context, prepared = asyncio.run(filtered(url, small, largest, query_vectors))

            latencies = {}
            for label, collection, tenant in (
                (f"SciFact ({args.base:,} chunks)", SCIFACT, SCIFACT_TENANT),
                (f"{args.rows:,} chunks, tenant {largest} ({int(sizes.max()):,})", COLLECTION, largest),
            ):
                print(f"latency by mode: {len(hybrid_queries)} queries, {label} ...", flush=True)
                latencies[label] = keyword_latency.measure(seek, collection, tenant, hybrid_queries, K)
            meta = common.base_meta(url)
            seek_tuning = {
                "ef_search": seek.settings.ef_search,
                "max_scan_tuples": seek.settings.max_scan_tuples,
                "exact_search_below": seek.settings.exact_search_below,
            }
            model = {"name": embedder.info.name, "version": embedder.info.version, "dims": embedder.info.dimensions}

    # --- filtered table
    if not args.skip_filtered:
        baseline_p50 = common.percentile(measures[UNFILTERED.key].ms, 50)
        small_label = f"{len(small)} smallest"
        small_rows = [int(sizes[names.index(t)]) for t in small]
        big_rows = [int(sizes.max())]
        table = [_row(v, measures[v.key], baseline_p50, small_label, small_rows) for v in (*SQL_VARIANTS, PGSEEK)]
        table.append(_row(EXACT, measures[EXACT.key], baseline_p50, small_label, small_rows))
        table.append(_row(UNFILTERED, measures[UNFILTERED.key], baseline_p50, "none (owner, all rows)", [args.rows]))
        table.append(_row(PGSEEK, context[PGSEEK.key], baseline_p50, f"largest ({largest})", big_rows))
        table.append(_row(EXACT, context[EXACT.key], baseline_p50, f"largest ({largest})", big_rows))

        ours = table[len(SQL_VARIANTS)]
        rows_ok = ours["min rows"] >= K
        recall_ok = ours["recall@10"] >= RECALL_TARGET
        latency_ok = ours["p50 / unfiltered"] <= LATENCY_TARGET
        meta.update(
            {
                "rows": args.rows,
                "base_chunks": args.base,
                "queries_per_tenant": len(filtered_queries),
                "k": K,
                "model": model,
                "noise_sigma": args.sigma,
                "tenants": TENANTS,
                "tenant_sizes": {name: int(size) for name, size in zip(names, sizes, strict=True)},
                "tenant_shares": {name: round(float(share), 6) for name, share in zip(names, shares, strict=True)},
                "small_tenants": small_shares,
                "largest_tenant": {largest: float(shares.max())},
                "embed_base_seconds": embed_seconds,
                **timings,
                "load_rows_per_second": args.rows / timings["load_seconds"],
                "hnsw": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "maintenance_work_mem": INDEX_MEMORY},
                "tuning": {"ef_search": EF_SEARCH, "max_scan_tuples": MAX_SCAN_TUPLES, "exact_below": EXACT_BELOW},
                "baseline_p50_ms": baseline_p50,
                "targets": {
                    "rows": f"pgseek returns {K} rows whenever {K} match (every tenant has >= {MIN_TENANT_ROWS})",
                    "recall_at_10": RECALL_TARGET,
                    "p50_over_unfiltered": LATENCY_TARGET,
                },
                "rows_within_target": bool(rows_ok),
                "recall_within_target": bool(recall_ok),
                "latency_within_target": bool(latency_ok),
                "data": DATA_NOTE.format(
                    tokens=CHUNK_TOKENS, sigma=args.sigma, floor=MIN_TENANT_ROWS, s=ZIPF_EXPONENT, batch=WRITE_BATCH
                ),
                "latency": LATENCY_NOTE.format(warmup=WARMUP_QUERIES),
                "variants": {
                    v.label: ("search.vector_search" if v is PGSEEK else v.settings)
                    for v in (*SQL_VARIANTS, PGSEEK, EXACT, UNFILTERED)
                },
                "prepared_statements": prepared,
                "plan_column": "how the embeddings table was read, from EXPLAIN of the first query per tenant (pgseek: "
                "the plan db_search.vector_search chose, per query)",
                "query_shape": "queries.VECTOR_SEARCH in a tenant scope; the unfiltered baseline drops the tenant "
                "condition and runs as the owner (row-level security does not apply to the table owner)",
            }
        )
        common.write_results(
            "search_filtered",
            table,
            meta,
            plot={
                "labels": plot_labels(table),
                "values": {
                    "recall@10": [r["recall@10"] for r in table],
                    f"mean rows returned / {K}": [r["mean rows"] / K for r in table],
                },
                "ylabel": "fraction",
                "title": f"Filtered search, {args.rows:,} chunks, {TENANTS} tenants: the {len(small)} smallest "
                f"({min(small_shares.values()):.2%}-{max(small_shares.values()):.2%} of rows each)",
                "target": RECALL_TARGET,
                "target_label": f"recall target {RECALL_TARGET}",
            },
        )
        print(
            f"pgseek planner on the smallest tenants: min rows {ours['min rows']} (target {K}: "
            f"{'met' if rows_ok else 'missed'}), recall@10 {ours['recall@10']:.3f} (target {RECALL_TARGET}: "
            f"{'met' if recall_ok else 'missed'}), p50 {ours['p50 / unfiltered']:.2f}x unfiltered (target <= "
            f"{LATENCY_TARGET}x: {'met' if latency_ok else 'missed'})"
        )

    # --- latency by mode
    from pgseek.search.keyword import ESSENTIAL_POSTINGS

    hybrid_rows = [row for label, latency in latencies.items() for row in keyword_latency.table(label, latency)]
    hybrid_meta = common.base_meta()
    hybrid_meta.update(
        {
            "versions": meta.get("versions"),
            "rows": args.rows,
            "tenant": largest,
            "tenant_rows": int(sizes.max()),
            "tenant_share": float(shares.max()),
            "scifact_chunks": args.base,
            "k": K,
            "model": model,
            "seek_tuning": seek_tuning,
            "keyword_budget": ESSENTIAL_POSTINGS,
            "targets": "keyword top 10 = the full scan's for >= 99% of queries; hybrid p50 <= 1.5x vector p50",
            "method": "Seek.search(text, k=10, mode=...), every mode per query, the order of modes rotated per "
            "query; 'full scan' modes swap the engine's keyword leg for db.search.full_keyword_search (the leg "
            "before decision 0024) for that search; timings_ms.total (embed + search + fuse) and timings_ms.search "
            f"(database round trips); {keyword_latency.WARMUP_QUERIES} warm-up queries per mode first. SciFact: the "
            "base chunks (title + abstract cut to 200 word pieces, real vectors) as one tenant's collection",
        }
    )
    labels_h = [row["mode"].replace(", ", "\n") for row in hybrid_rows[: len(keyword_latency.MODES)]]
    common.write_results(
        "search_hybrid",
        hybrid_rows,
        hybrid_meta,
        plot={
            "labels": labels_h,
            "values": {
                label: [row["total p50 ms"] for row in hybrid_rows if row["corpus"] == label] for label in latencies
            },
            "ylabel": "milliseconds (total p50)",
            "title": "Search latency by mode, keyword leg bounded (decision 0024) and full scan",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
