"""The capacity framework without a database: memory, projected p99 and the vector-count ranges, with reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgseek.ops.capacity import PGVECTOR_CEILING, Measured, assess, next_step, project, share_machine

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
    read_replicas=0,
    replicas_in_rotation=0,
    replicas_share_machine=False,
    partitioned_collections=0,
    largest_graph_bytes=2 * GB,
    largest_tenant_vectors=100_000,
    tenant_graph_bytes=GB // 5,
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


def _step(**figures: object) -> str:
    base: dict[str, object] = {
        "vectors": 1_000_000,
        "tenant_vectors": 100_000,
        "index_bytes": 2 * GB,
        "binary_index_bytes": GB // 2,
        "tenant_graph_bytes": GB // 5,
        "memory_bytes": 32 * GB,
        "p99_within_target": True,
    }
    return next_step(**{**base, **figures})  # type: ignore[arg-type]


def test_next_step_takes_the_largest_step_the_figures_call_for() -> None:
    assert _step() == "none"
    assert _step(p99_within_target=False) == "read replicas"
    # Past memory, each tenant's graph fitting: partitions, the hot ones prewarmed (whatever p99 says).
    assert _step(index_bytes=40 * GB, p99_within_target=False) == "partition by tenant"
    # Past memory even binary-quantized, or past the ceiling: shard by tenant, as long as a tenant fits a node.
    assert _step(index_bytes=400 * GB, binary_index_bytes=40 * GB) == "distributed PostgreSQL (shard by tenant)"
    assert _step(vectors=PGVECTOR_CEILING + 1) == "distributed PostgreSQL (shard by tenant)"
    # One tenant past a node: sharding by tenant cannot split it.
    assert _step(index_bytes=400 * GB, binary_index_bytes=40 * GB, tenant_graph_bytes=33 * GB) == (
        "dedicated vector database"
    )
    assert _step(vectors=2 * PGVECTOR_CEILING, tenant_vectors=PGVECTOR_CEILING + 1) == "dedicated vector database"


def test_each_scenario_says_what_replicas_and_partitioning_change_in_numbers() -> None:
    now, ten, hundred = assess(NOW, 50.0).scenarios
    assert (now.next_step, ten.next_step) == ("none", "none")
    # 100x: 200 GB of index past 32 GB of RAM, 64.8 GB binary-quantized; the largest tenant's graph 20 GB fits.
    assert hundred.next_step == "distributed PostgreSQL (shard by tenant)"
    assert hundred.largest_graph_bytes == 200 * GB and hundred.tenant_graph_bytes == 100 * (GB // 5)
    text = "\n".join(now.reasons)
    # 800 searches/s measured; 2 replicas on machines of their own: x3.
    assert "no read replicas: about 800 searches/s a node" in text and "2 give about 2,400" in text
    assert "each replica holds the whole index, 2.00 GB" in text
    assert "largest graph a search walks is 2.00 GB of 2.00 GB" in text and "by tenant at most 204.80 MB" in text
    assert "still take 2.00 GB of memory" in text
    assert any("Citus, docs/distributed.md" in r and "64.79 GB even binary-quantized" in r for r in hundred.reasons), (
        hundred.reasons
    )


def test_replicas_multiply_throughput_on_their_own_machines_only() -> None:
    two = replace(NOW, read_replicas=2, replicas_in_rotation=1)
    apart = "\n".join(project(two, 1, 50.0).reasons)
    assert "2 read replica(s) (1 in rotation now), each on its own machine: about 2,400 searches/s (x3" in apart
    together = "\n".join(project(replace(two, replicas_share_machine=True), 1, 50.0).reasons)
    assert "share its cores: still about 800 searches/s a node" in together and "not x3" in together
    # Replicas change nothing about memory: the next step past memory is the same with or without them.
    big = replace(two, index_bytes=40 * GB, largest_graph_bytes=40 * GB, tenant_graph_bytes=4 * GB)
    assert project(big, 1, 50.0).next_step == project(replace(big, read_replicas=0), 1, 50.0).next_step
    assert project(big, 1, 50.0).next_step == "partition by tenant"


def test_a_slow_p99_in_memory_calls_for_replicas_and_says_what_they_do_not_fix() -> None:
    slow = project(replace(NOW, p99_ms=80.0), 1, 50.0)
    assert slow.next_step == "read replicas"
    assert any("p99 80.0 ms is over 50 ms" in r and "lower ef_search" in r for r in slow.reasons)


def test_a_partitioned_deployment_reports_its_largest_leaf() -> None:
    parted = replace(NOW, partitioned_collections=1, largest_graph_bytes=GB // 4, tenant_graph_bytes=GB // 4)
    scenario = project(parted, 100, 50.0)
    assert scenario.largest_graph_bytes == 25 * GB and scenario.index_bytes == 200 * GB
    assert any("1 of 1 collection(s) partitioned by tenant" in r for r in scenario.reasons)


@pytest.mark.parametrize(
    ("primary", "replicas", "shared"),
    [
        ("postgresql://u@/pgseek?host=/tmp/pg", ["postgresql://u@localhost:5433/pgseek"], True),
        ("postgresql://u@db1:5432/x", ["postgresql://u:***@db1:5433/x"], True),
        ("postgresql://u@db1:5432/x", ["postgresql://u:***@db2:5432/x", "postgresql://u@db1:5433/x"], False),
        ("postgresql://u@localhost/x", ["postgresql://u@replica.internal/x"], False),
        (None, ["postgresql://u@localhost/x"], False),
        ("postgresql://u@localhost/x", [], False),
        ("host=db1 port=5432 dbname=x", ["host=db1 port=5433 dbname=x user=u"], True),
        ("host=/run/pg dbname=x", ["host='db2' dbname=x"], False),
        ("postgresql://u@[::1]:5432/x", ["host=127.0.0.1 port=5433"], True),
    ],
)
def test_replicas_share_the_primary_machine_when_their_hosts_say_so(
    primary: str | None, replicas: list[str], shared: bool
) -> None:
    assert share_machine(primary, replicas) is shared
