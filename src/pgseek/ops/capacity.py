"""``pgseek capacity``: where this deployment stands, now and at 10x and 100x its vectors, on the decision framework of
docs/capacity.md: does the vector index fit in memory, is p99 within its target, and is the vector count in the range
where pgvector stays the right answer, where it needs care, or where a dedicated vector database (Qdrant, Pinecone,
Weaviate, Milvus) or a scale-out is warranted. Every verdict comes with its reasons in numbers.

The figures are the live deployment's: vectors, dimensions and index bytes from the catalog (the doctor's facts),
memory from the machine (embedded server) or ``effective_cache_size``, and p50/p99 and throughput measured here by
searching stored vectors of the largest tenants through ``vector_search`` with the settings searches use.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pgseek.config import Settings
from pgseek.db import catalog, health
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import enter_tenant
from pgseek.db.search import VectorTuning, vector_search
from pgseek.ops.checks import Facts, hnsw_build_bytes
from pgseek.ops.doctor import gather, machine_memory

K = 10
FACTORS: tuple[int, ...] = (1, 10, 100)
PGVECTOR_COMFORT = 10_000_000
"""Up to this many vectors, one PostgreSQL node with an in-memory HNSW index is the right answer (docs/capacity.md)."""
PGVECTOR_CEILING = 100_000_000
"""Past this, one node's memory and build times (hours per index) call for a scale-out or a dedicated database."""
SAMPLE_TENANTS = 5
Range = Literal["pgvector", "pgvector with care", "scale out or a dedicated vector database"]


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


def _gb(size: float) -> str:
    return f"{size / 2**30:,.2f} GB"


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
        f"{_count(vectors)} vectors of {m.dimensions} dimensions; vector indexes {_gb(index)} against shared_buffers "
        f"{_gb(m.shared_buffers_bytes)} and {m.memory_source} {_gb(m.memory_bytes)}"
    ]
    # HNSW visits about log(N) graph levels and a near-constant number of neighbours per level: in memory, latency
    # grows with log(N). Read from disk, each visit is a random read: no projection from in-memory figures holds.
    p99: float | None = None
    if memory != "exceeds memory":
        growth = math.log(max(vectors, 2)) / math.log(max(m.vectors, 2))
        p99 = m.p99_ms * growth
        measured = f"measured {m.p99_ms:.1f} ms, x{growth:.2f} for log N"
        reasons.append(f"p99 {p99:.1f} ms projected ({measured}) against {p99_target_ms:g} ms")
    else:
        reasons.append(
            f"the index exceeds memory: every search would wait on random reads; halfvec would make it {_gb(half)}, "
            f"binary quantization {_gb(bits)}"
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
            steps.append(f"a quantized index (halfvec {_gb(half)}, binary {_gb(bits)}) or more memory")
        elif memory == "memory":
            steps.append(f"shared_buffers raised to {_gb(index)} or more")
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
    return Scenario(factor, vectors, index, half, bits, memory, p99, within, found, verdict, tuple(reasons))


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


async def capacity(
    pool: Pool, settings: Settings, *, p99_target_ms: float = 100.0, queries: int = 50
) -> CapacityReport:
    """Measure the deployment and place it, now and at 10x and 100x, on the framework."""
    async with translate_errors("measuring capacity"):
        async with pool.connection() as conn:
            facts = await gather(conn)
        timings = await _latencies(pool, facts, settings, queries)
    ram = machine_memory() if settings.embedded else None
    parallel = min(os.cpu_count() or 1, settings.pool_max_size) if settings.embedded else settings.pool_max_size
    mean = float(np.mean(timings)) if timings else 0.0
    tables = facts.vector_tables()
    measured = Measured(
        collections=len(facts.collections),
        vectors=sum(facts.rows(t.table) for t in tables),
        dimensions=max((t.dimensions for t in tables), default=0),
        index_bytes=sum(i.size_bytes for i in facts.indexes if i.valid),
        shared_buffers_bytes=facts.server.shared_buffers_bytes,
        memory_bytes=ram or facts.server.effective_cache_size_bytes,
        memory_source="RAM" if ram else "effective_cache_size",
        queries=len(timings),
        p50_ms=round(_percentile(timings, 50), 3),
        p99_ms=round(_percentile(timings, 99), 3),
        throughput_qps=round(parallel * 1000 / mean, 1) if mean else 0.0,
        parallel=parallel,
    )
    return assess(measured, p99_target_ms)
