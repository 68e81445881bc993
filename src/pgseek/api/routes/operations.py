"""Operator reports over HTTP, for the operator key only: the doctor names every tenant and its size (decision 0021);
capacity gives deployment-wide figures (decision 0007)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from pgseek.api.deps import CollectionPath, OperatorDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.schemas import (
    NAME_PATTERN,
    CapacityPublic,
    DoctorPublic,
    ErrorResponse,
    PartitionMove,
    PartitionMoved,
    PartitionsPublic,
)

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERROR_RESPONSES)


@router.get("/doctor", responses={404: {"model": ErrorResponse, "description": "No collection of that name"}})
async def doctor(
    _: OperatorDep,
    seek: SeekDep,
    collection: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=NAME_PATTERN, description="Only this collection's tables."),
    ] = None,
    recall: Annotated[bool, Query(description="Measure recall@10 against exact search (seconds).")] = True,
    queries: Annotated[int, Query(ge=1, le=1000, description="Sample queries per tenant size bucket.")] = 20,
    target: Annotated[float, Query(gt=0, le=1, description="The recall@10 the report finds an ef_search for.")] = 0.95,
) -> DoctorPublic:
    """`pgseek doctor --json`: versions, vector indexes, memory, dead rows, autovacuum, partial-index candidates and
    recall, each finding with what to do. 200 whatever the findings: `status` is the worst severity. Operator key
    only (PGSEEK_OPERATOR_KEY): the report describes every tenant."""
    report = await seek.doctor(collection, recall=recall, queries=queries, target=target)
    return DoctorPublic.of(report)


@router.get("/capacity")
async def capacity(
    _: OperatorDep,
    seek: SeekDep,
    p99_target_ms: Annotated[
        float, Query(gt=0, le=60_000, description="The p99 latency target of a vector search, in milliseconds.")
    ] = 100.0,
    queries: Annotated[int, Query(ge=1, le=1000, description="Searches to measure p50/p99 with.")] = 50,
) -> CapacityPublic:
    """`pgseek capacity --json`: vectors, index bytes, memory, measured p50/p99 and throughput, and where the
    deployment stands now and at 10x and 100x (docs/capacity.md). Operator key only: deployment-wide figures."""
    return CapacityPublic.of(await seek.capacity(p99_target_ms=p99_target_ms, queries=queries))


_PARTITIONED: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No collection of that name, or no vectors yet"}
}


@router.get("/collections/{collection}/partitions", responses=_PARTITIONED)
async def partitions(collection: CollectionPath, _: OperatorDep, seek: SeekDep) -> PartitionsPublic:
    """`pgseek partitions list --json`: each partition of a collection partitioned by tenant (its own tenant's or a
    hash bucket of the others), rows and bytes. 422 for a collection that is not partitioned. Operator key only: it
    names tenants and their sizes."""
    return PartitionsPublic.of(await seek.partitions(collection))


@router.post(
    "/collections/{collection}/partitions",
    responses={**_PARTITIONED, 409: {"model": ErrorResponse, "description": "The tenant has its own already"}},
)
async def move_partition(
    collection: CollectionPath, body: PartitionMove, _: OperatorDep, seek: SeekDep
) -> PartitionMoved:
    """`pgseek partitions move TENANT --json`: give a tenant a partition and HNSW graph of its own. Runs to the end
    (writes to the collection wait meanwhile). Operator key only."""
    return PartitionMoved.of(await seek.move_tenant_partition(collection, body.tenant))
