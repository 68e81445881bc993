"""The capacity framework without a database: memory, projected p99 and the vector-count ranges, with reasons."""

from __future__ import annotations

from dataclasses import replace

from pgseek.ops.capacity import PGVECTOR_CEILING, Measured, assess, project

GB = 2**30
NOW = Measured(
    collections=1,
    vectors=1_000_000,
    dimensions=384,
    index_bytes=2 * GB,
    shared_buffers_bytes=4 * GB,
    memory_bytes=32 * GB,
    memory_source="RAM",
    queries=50,
    p50_ms=4.0,
    p99_ms=12.0,
    throughput_qps=800.0,
    parallel=4,
)


def test_a_million_vectors_in_memory_stay_on_pgvector() -> None:
    now, ten, hundred = assess(NOW, 50.0).scenarios
    assert now.range == "pgvector" and now.memory == "shared_buffers" and now.p99_ms == 12.0
    # 10M: 20 GB of index, in RAM but not in shared_buffers; log(10M) / log(1M) = 7/6 on p99.
    assert (
        ten.range == "pgvector" and ten.memory == "memory" and ten.p99_ms is not None and abs(ten.p99_ms - 14.0) < 0.01
    )
    # 100M: 200 GB, beyond 32 GB of RAM, and binary quantization (about 1/3 of it) does not fit either.
    assert hundred.range == "scale out or a dedicated vector database" and hundred.memory == "exceeds memory"
    assert hundred.p99_ms is None and not hundred.p99_within_target
    assert hundred.binary_index_bytes < hundred.halfvec_index_bytes < hundred.index_bytes
    assert any("exceeds memory" in r for r in hundred.reasons)


def test_a_slow_p99_or_a_large_count_needs_care_with_the_reasons_in_numbers() -> None:
    slow = project(replace(NOW, p99_ms=80.0), 1, 50.0)
    assert slow.range == "pgvector with care" and not slow.p99_within_target
    assert "read replicas" in slow.verdict and any("80.0 ms" in r for r in slow.reasons)
    big = project(replace(NOW, vectors=20_000_000, memory_bytes=512 * GB, index_bytes=40 * GB), 1, 50.0)
    assert big.range == "pgvector with care" and "partial indexes" in big.verdict
    past = project(replace(NOW, memory_bytes=10_000 * GB), PGVECTOR_CEILING // NOW.vectors + 1, 1000.0)
    assert past.range == "scale out or a dedicated vector database" and any(
        "past the 100.0M" in r for r in past.reasons
    )
