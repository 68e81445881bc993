"""``pgseek capacity``: where this deployment stands, now and at 10x and 100x its vectors, on the decision framework of
docs/capacity.md: does the vector index fit in memory, is p99 within its target, and is the vector count in the range
where pgvector stays the right answer, where it needs care, or where a dedicated vector database (Qdrant, Pinecone,
Weaviate, Milvus) or a scale-out is warranted. Every verdict comes with its reasons in numbers.

The figures are the live deployment's: vectors, dimensions and index bytes from the catalog (the doctor's facts),
memory from the machine (embedded server) or ``effective_cache_size``, and p50/p99 and throughput measured here by
searching stored vectors of the largest tenants through ``vector_search`` with the settings searches use. What read
replicas and partitioning by tenant change is measured too (the replicas the router reads from, the largest graph a
search walks) and each scenario names its next step (``next_step``, a pure function of the figures).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from numpy.typing import NDArray

from pgseek.config import Settings
from pgseek.db import catalog, health, partitions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import Conn, enter_tenant
from pgseek.db.search import VectorTuning, vector_search
from pgseek.ops.checks import Facts, hnsw_build_bytes
from pgseek.ops.doctor import gather, machine_memory
from pgseek.types import ReplicaLag

K = 10
FACTORS: tuple[int, ...] = (1, 10, 100)
PGVECTOR_COMFORT = 10_000_000
"""Up to this many vectors, one PostgreSQL node with an in-memory HNSW index is the right answer (docs/capacity.md)."""
PGVECTOR_CEILING = 100_000_000
"""Past this, one node's memory and build times (hours per index) call for a scale-out or a dedicated database."""
SAMPLE_TENANTS = 5
Range = Literal["pgvector", "pgvector with care", "scale out or a dedicated vector database"]
NextStep = Literal[
    "none",
    "read replicas",
    "partition by tenant",
    "distributed PostgreSQL (shard by tenant)",
    "dedicated vector database",
]
DISTRIBUTED_DOC = "docs/distributed.md"


@dataclass(frozen=True, slots=True)
class Measured:
    """The live deployment's figures."""

    collections: int
    vectors: int
    dimensions: int
    index_bytes: int
    shared_buffers_bytes: int
    memory_bytes: int
    memory_source: str
    """RAM (this machine runs the embedded server) or effective_cache_size (a server elsewhere)."""
    queries: int
    p50_ms: float
    p99_ms: float
    throughput_qps: float
    """Searches per second: one connection's rate times the searches that can run at once (the pool, the cores)."""
    parallel: int
    read_replicas: int
    """The replicas this deployment reads from (PGSEEK_READ_URLS or the embedded ones); 0 without."""
    replicas_in_rotation: int
    """Those the router's health check has in the rotation now (answering, within PGSEEK_MAX_REPLICA_LAG_S)."""
    replicas_share_machine: bool
    """The replicas run on the primary's machine (same host, or all local): they share its cores."""
    partitioned_collections: int
    largest_graph_bytes: int
    """The largest single vector index a search walks: an unpartitioned table's whole index, a partitioned one's
    largest leaf's."""
    largest_tenant_vectors: int
    """The most vectors one tenant has in one embeddings table: what partitioning by tenant cannot split."""
    tenant_graph_bytes: int
    """The largest graph with partitioning by tenant: a partitioned table's largest leaf index; for an unpartitioned
    one, its index times the largest tenant's share of its rows (that tenant given its own partition)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    factor: int
    vectors: int
    index_bytes: int
    halfvec_index_bytes: int
    binary_index_bytes: int
    memory: Literal["shared_buffers", "memory", "exceeds memory"]
    p99_ms: float | None
    """Projected p99 (None: the index would be read from disk; no projection holds)."""
    p99_within_target: bool
    range: Range
    verdict: str
    reasons: tuple[str, ...]
    largest_graph_bytes: int
    """The largest graph a search walks, as deployed, times the factor."""
    tenant_graph_bytes: int
    """The largest graph a search walks with partitioning by tenant, times the factor."""
    next_step: NextStep


@dataclass(frozen=True, slots=True)
class CapacityReport:
    measured: Measured
    p99_target_ms: float
    scenarios: tuple[Scenario, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "measured": asdict(self.measured),
            "p99_target_ms": self.p99_target_ms,
            "scenarios": [asdict(s) for s in self.scenarios],
        }


def size_text(size: float) -> str:
    """A size in GB, or in MB or kB below that (a small deployment's graphs would all read 0.00 GB)."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.2f} {unit}"
    return f"{size:,.0f} bytes"


def _count(n: int) -> str:
    return f"{n / 1e6:,.1f}M" if n >= 1_000_000 else f"{n:,}"


def _index_ratio(dimensions: int, kind: str, m: int = 16) -> float:
    """An HNSW index's size over that of float32 vectors: halfvec stores 2 bytes a dimension, bits 1/8."""
    full = hnsw_build_bytes(1, dimensions, "float32", m)
    if kind == "halfvec":
        return hnsw_build_bytes(1, dimensions, "float16", m) / full
    return (full - 4 * dimensions + math.ceil(dimensions / 8)) / full


def project(m: Measured, factor: int, p99_target_ms: float) -> Scenario:
    """The deployment with ``factor`` times its vectors: memory, p99 and range, with the reasons."""
    vectors, index = m.vectors * factor, m.index_bytes * factor
    half, bits = int(index * _index_ratio(m.dimensions, "halfvec")), int(index * _index_ratio(m.dimensions, "binary"))
    memory: Literal["shared_buffers", "memory", "exceeds memory"] = (
        "shared_buffers"
        if index <= m.shared_buffers_bytes
        else "memory"
        if index <= m.memory_bytes
        else "exceeds memory"
    )
    reasons = [
        f"{_count(vectors)} vectors of {m.dimensions} dimensions; vector indexes {size_text(index)} against "
        f"shared_buffers {size_text(m.shared_buffers_bytes)} and {m.memory_source} {size_text(m.memory_bytes)}"
    ]
    # HNSW visits about log(N) graph levels and a near-constant number of neighbours per level: in memory, latency
    # grows with log(N). Read from disk, each visit is a random read: no projection from in-memory figures holds.
    p99: float | None = None
    growth = math.log(max(vectors, 2)) / math.log(max(m.vectors, 2))
    if memory != "exceeds memory":
        p99 = m.p99_ms * growth
        measured = f"measured {m.p99_ms:.1f} ms, x{growth:.2f} for log N"
        reasons.append(f"p99 {p99:.1f} ms projected ({measured}) against {p99_target_ms:g} ms")
    else:
        reasons.append(
            "the index exceeds memory: every search would wait on random reads; halfvec would make it "
            f"{size_text(half)}, binary quantization {size_text(bits)}"
        )
    within = p99 is not None and p99 <= p99_target_ms
    fits_quantized = bits <= m.memory_bytes
    if vectors > PGVECTOR_CEILING or (memory == "exceeds memory" and not fits_quantized):
        found: Range = "scale out or a dedicated vector database"
        verdict = (
            "past one node: shard by tenant (Citus, or collections on separate servers with read replicas), or move "
            "the vectors to a dedicated vector database (Qdrant, Milvus, Weaviate, Pinecone) built for disk-resident "
            "quantized indexes"
        )
        if vectors > PGVECTOR_CEILING:
            reasons.append(f"{_count(vectors)} vectors is past the {_count(PGVECTOR_CEILING)} one node serves well")
    elif vectors > PGVECTOR_COMFORT or memory == "exceeds memory" or not within:
        found = "pgvector with care"
        steps = []
        if memory == "exceeds memory":
            steps.append(f"a quantized index (halfvec {size_text(half)}, binary {size_text(bits)}) or more memory")
        elif memory == "memory":
            steps.append(f"shared_buffers raised to {size_text(index)} or more")
        if vectors > PGVECTOR_COMFORT:
            steps.append("partial indexes for mid-size tenants, IVFFlat or quantized builds to bound build time")
            reasons.append(
                f"{_count(vectors)} vectors is past the {_count(PGVECTOR_COMFORT)} where one node needs no care"
            )
        if not within:
            steps.append("read replicas for throughput, a lower ef_search or quantization for latency")
        verdict = "pgvector still, with " + "; ".join(steps)
    else:
        found = "pgvector"
        verdict = "pgvector stays the right answer: the index fits in memory and p99 is within its target"
    graph, tenant_graph = m.largest_graph_bytes * factor, m.tenant_graph_bytes * factor
    step = next_step(
        vectors=vectors,
        tenant_vectors=m.largest_tenant_vectors * factor,
        index_bytes=index,
        binary_index_bytes=bits,
        tenant_graph_bytes=tenant_graph,
        memory_bytes=m.memory_bytes,
        p99_within_target=within,
    )
    reasons += scale_out_reasons(m, factor, memory != "exceeds memory", growth, p99, p99_target_ms, step)
    return Scenario(
        factor,
        vectors,
        index,
        half,
        bits,
        memory,
        p99,
        within,
        found,
        verdict,
        tuple(reasons),
        graph,
        tenant_graph,
        step,
    )


def next_step(
    *,
    vectors: int,
    tenant_vectors: int,
    index_bytes: int,
    binary_index_bytes: int,
    tenant_graph_bytes: int,
    memory_bytes: int,
    p99_within_target: bool,
) -> NextStep:
    """The one step the figures call for, the largest that applies (docs/capacity.md, "Replicas and partitioning"):

    - one tenant's graph past one node (its vectors past the ceiling, or its graph past the node's memory): a dedicated
      vector database, since sharding by tenant cannot split a tenant;
    - the vectors past the ceiling, or the indexes past memory even binary-quantized: a distributed PostgreSQL
      sharding by tenant (every tenant's graph fits one node);
    - the indexes past memory (each tenant's graph fits): partition by tenant, the hot partitions prewarmed;
    - p99 over its target with the indexes in memory: read replicas;
    - else none.
    """
    if tenant_vectors > PGVECTOR_CEILING or tenant_graph_bytes > memory_bytes:
        return "dedicated vector database"
    if vectors > PGVECTOR_CEILING or binary_index_bytes > memory_bytes:
        return "distributed PostgreSQL (shard by tenant)"
    if index_bytes > memory_bytes:
        return "partition by tenant"
    if not p99_within_target:
        return "read replicas"
    return "none"


def scale_out_reasons(
    m: Measured, factor: int, in_memory: bool, growth: float, p99: float | None, p99_target_ms: float, step: NextStep
) -> list[str]:
    """What read replicas and partitioning by tenant change at ``factor`` times the vectors, and the next step, in
    numbers."""
    index, graph, tenant_graph = m.index_bytes * factor, m.largest_graph_bytes * factor, m.tenant_graph_bytes * factor
    tenant_vectors, bits = m.largest_tenant_vectors * factor, int(index * _index_ratio(m.dimensions, "binary"))
    memory = f"{m.memory_source} {size_text(m.memory_bytes)}"
    n = m.read_replicas
    if in_memory:
        node = m.throughput_qps / growth
        per_node = f"about {node:,.0f} searches/s a node ({m.throughput_qps:,.0f} measured, /{growth:.2f} for log N)"
        if n and m.replicas_share_machine:
            reads = (
                f"{n} read replica(s) ({m.replicas_in_rotation} in rotation now) on the primary's machine share its "
                f"cores: still {per_node} in all, not x{n + 1}; on machines of their own about {node * (n + 1):,.0f}"
            )
        elif n:
            reads = (
                f"{n} read replica(s) ({m.replicas_in_rotation} in rotation now), each on its own machine: about "
                f"{node * (n + 1):,.0f} searches/s (x{n + 1} of {per_node})"
            )
        else:
            reads = (
                f"no read replicas: {per_node}; r replicas on machines of their own multiply it by r + 1 (2 give "
                f"about {node * 3:,.0f}); on the primary's machine they would share its cores"
            )
    else:
        reads = (
            f"{n} read replica(s) ({m.replicas_in_rotation} in rotation now)" if n else "no read replicas"
        ) + ": throughput from disk is not projected; replicas on machines of their own multiply it by replicas + 1"
    reasons = [f"{reads}; memory unchanged: each replica holds the whole index, {size_text(index)}"]
    partitioned = f"{m.partitioned_collections} of {m.collections} collection(s) partitioned by tenant"
    reasons.append(
        f"partitioning: the largest graph a search walks is {size_text(graph)} of {size_text(index)} of vector indexes "
        f"({partitioned}); by tenant at most {size_text(tenant_graph)} (the largest tenant, {_count(tenant_vectors)} "
        f"vectors, in a partition of its own), and an index build covers one partition at a time; all the indexes "
        f"still take {size_text(index)} of memory"
    )
    if step == "dedicated vector database":
        why = (
            f"{_count(tenant_vectors)} vectors past the {_count(PGVECTOR_CEILING)} one node serves well"
            if tenant_vectors > PGVECTOR_CEILING
            else f"{size_text(tenant_graph)} against {memory}"
        )
        reasons.append(
            f"next step: a dedicated vector database: one tenant's graph is past one node ({why}), and sharding by "
            "tenant cannot split a tenant"
        )
    elif step == "distributed PostgreSQL (shard by tenant)":
        why = (
            f"{_count(m.vectors * factor)} vectors past the {_count(PGVECTOR_CEILING)} one node serves well"
            if m.vectors * factor > PGVECTOR_CEILING
            else f"the indexes take {size_text(bits)} even binary-quantized, against {memory}"
        )
        reasons.append(
            f"next step: a distributed PostgreSQL sharding by tenant (Citus, {DISTRIBUTED_DOC}): {why}, while the "
            f"largest tenant's graph, {size_text(tenant_graph)}, fits one node"
        )
    elif step == "partition by tenant":
        reasons.append(
            f"next step: partition by tenant and prewarm the hot partitions: the indexes, {size_text(index)}, exceed "
            f"{memory}, but the largest tenant's graph, {size_text(tenant_graph)}, fits (binary quantization: "
            f"{size_text(bits)} in all)"
        )
    elif step == "read replicas":
        assert p99 is not None  # over target with the indexes in memory: projected
        reasons.append(
            f"next step: read replicas: p99 {p99:.1f} ms is over {p99_target_ms:g} ms with the indexes in memory; "
            "replicas lower it where searches queue under load, not a single search's own latency (measured here "
            "one at a time): for that, a lower ef_search or quantization"
        )
    else:
        reasons.append("next step: none: the indexes fit in memory and p99 is within its target")
    return reasons


def assess(m: Measured, p99_target_ms: float) -> CapacityReport:
    return CapacityReport(m, p99_target_ms, tuple(project(m, f, p99_target_ms) for f in FACTORS))


async def _latencies(pool: Pool, facts: Facts, settings: Settings, queries: int) -> list[float]:
    """Milliseconds of vector searches of stored vectors of the largest tenants, as their searches run them."""
    largest = sorted(facts.tenants, key=lambda t: -t.chunks)[:SAMPLE_TENANTS]
    tuning = VectorTuning(
        settings.ef_search,
        settings.max_scan_tuples,
        settings.exact_search_below,
        settings.ivfflat_probes,
        settings.rerank_factor,
    )
    per_tenant = math.ceil(queries / max(len(largest), 1))
    timings: list[float] = []
    async with pool.connection() as conn:
        for size in largest:
            used = next(c for c in facts.collections if c.collection_id == size.collection_id)
            async with conn.transaction():
                found = await catalog.get_collection(conn, used.collection)
                samples: Sequence[NDArray[np.float32]] = await health.sample_vectors(
                    conn, used.table, used.collection_id, size.tenant, per_tenant
                )
            for vector in samples:
                started = time.perf_counter()
                async with conn.transaction():
                    scope = await enter_tenant(conn, size.tenant)
                    await vector_search(scope, used.table, found, vector, k=K, tuning=tuning)
                timings.append((time.perf_counter() - started) * 1000)
    return timings[:queries]


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


@dataclass(frozen=True, slots=True)
class TableGraphs:
    """One embeddings table's vector indexes as searches walk them."""

    table: str
    partitioned: bool
    index_bytes: int
    """Its valid vector indexes (a partitioned table's: its leaves')."""
    largest_graph_bytes: int
    """Its largest single vector index: the whole one, or a partitioned table's largest leaf's."""
    tenant_vectors: int
    """Its largest tenant's vectors (the tenant's chunks over the collections that share the table)."""
    tenant_graph_bytes: int
    """Its largest graph with partitioning by tenant: the largest leaf's, or the largest tenant's share of the
    index (that tenant in a partition of its own)."""


async def table_graphs(conn: Conn, facts: Facts) -> list[TableGraphs]:
    """Each collection's embeddings table: its vector indexes in all, its largest graph, and the largest a search
    would walk with the largest tenant in a partition of its own. A partitioned table's indexes are its leaves' (the
    parent's partitioned index holds nothing): read from each leaf with the doctor's index facts."""
    found = []
    for table in sorted({c.table for c in facts.collections}):
        ids = {c.collection_id for c in facts.collections if c.table == table}
        per_tenant: Counter[str] = Counter()
        for size in facts.tenants:
            if size.collection_id in ids:
                per_tenant[size.tenant] += size.chunks
        top = max(per_tenant.values(), default=0)
        if any(c.partitions for c in facts.collections if c.table == table):
            leaves = [leaf.name for leaf in await partitions.leaves(conn, table)]
            per_leaf: dict[str, int] = {}
            total = 0
            for index in await health.index_facts(conn, leaves):
                if index.valid:
                    total += index.size_bytes
                    per_leaf[index.table] = max(per_leaf.get(index.table, 0), index.size_bytes)
            largest = max(per_leaf.values(), default=0)
            found.append(TableGraphs(table, True, total, largest, top, largest))
            continue
        valid = [i.size_bytes for i in facts.indexes if i.table == table and i.valid]
        largest, rows = max(valid, default=0), facts.rows(table)
        share = round(largest * min(top / rows, 1.0)) if rows else 0
        found.append(TableGraphs(table, False, sum(valid), largest, top, share))
    return found


_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def _host(url: str) -> str:
    """The machine a connection string (a URI or ``key=value`` pairs) names; "" for this one (a socket directory,
    localhost). Parsed here: only pgseek.db imports the driver (tests/unit/test_layers.py)."""
    if "://" in url:
        parts = urlsplit(url)
        host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    else:
        found = re.search(r"(?:^|\s)host\s*=\s*'?([^\s']*)", url)
        host = found.group(1) if found else ""
    return "" if host.startswith("/") or host in _LOCAL_HOSTS else host


def share_machine(primary_url: str | None, replica_urls: Sequence[str]) -> bool:
    """Whether the replicas run on the primary's machine: each names the primary's host, or all are local."""
    if primary_url is None or not replica_urls:
        return False
    primary = _host(primary_url)
    return all(_host(url) == primary for url in replica_urls)


async def capacity(
    pool: Pool,
    settings: Settings,
    *,
    p99_target_ms: float = 100.0,
    queries: int = 50,
    replicas: Sequence[ReplicaLag] = (),
    primary_url: str | None = None,
) -> CapacityReport:
    """Measure the deployment and place it, now and at 10x and 100x, on the framework. ``replicas``: the read
    replicas as the router's last check saw them (the searches measured here run on the primary)."""
    async with translate_errors("measuring capacity"):
        async with pool.connection() as conn:
            facts = await gather(conn)
            graphs = await table_graphs(conn, facts)
        timings = await _latencies(pool, facts, settings, queries)
    ram = machine_memory() if settings.embedded else None
    parallel = min(os.cpu_count() or 1, settings.pool_max_size) if settings.embedded else settings.pool_max_size
    mean = float(np.mean(timings)) if timings else 0.0
    tables = facts.vector_tables()
    partitioned = {g.table for g in graphs if g.partitioned}
    measured = Measured(
        collections=len(facts.collections),
        vectors=sum(facts.rows(t.table) for t in tables),
        dimensions=max((t.dimensions for t in tables), default=0),
        index_bytes=sum(g.index_bytes for g in graphs),
        shared_buffers_bytes=facts.server.shared_buffers_bytes,
        memory_bytes=ram or facts.server.effective_cache_size_bytes,
        memory_source="RAM" if ram else "effective_cache_size",
        queries=len(timings),
        p50_ms=round(_percentile(timings, 50), 3),
        p99_ms=round(_percentile(timings, 99), 3),
        throughput_qps=round(parallel * 1000 / mean, 1) if mean else 0.0,
        parallel=parallel,
        read_replicas=len(replicas),
        replicas_in_rotation=sum(r.healthy for r in replicas),
        replicas_share_machine=share_machine(primary_url, [r.url for r in replicas]),
        partitioned_collections=sum(c.table in partitioned for c in facts.collections),
        largest_graph_bytes=max((g.largest_graph_bytes for g in graphs), default=0),
        largest_tenant_vectors=max((g.tenant_vectors for g in graphs), default=0),
        tenant_graph_bytes=max((g.tenant_graph_bytes for g in graphs), default=0),
    )
    return assess(measured, p99_target_ms)
