"""``pgseek partitions list | move``: how a partitioned collection's vectors are spread over its partitions, and
giving a large tenant a partition (and so an HNSW graph) of its own (decision 0031). An operator's view: it names
tenants and their sizes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from pgseek.config import Settings
from pgseek.db import catalog, partitions, queries, versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.indexes import BuildOptions
from pgseek.db.writes import embedding_type, index_valid
from pgseek.errors import BusyError, ConflictError, InputError, NotFoundError


@dataclass(frozen=True, slots=True)
class PartitionRow:
    name: str
    tenant: str | None
    """The tenant of its own partition; None for a hash bucket of the other tenants."""
    bound: str
    rows: int
    table_bytes: int
    index_bytes: int


@dataclass(frozen=True, slots=True)
class PartitionReport:
    collection: str
    table: str
    buckets: int
    partitions: list[PartitionRow]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MoveReport:
    collection: str
    tenant: str
    tables: list[str]
    """Each live version's new partition for the tenant."""
    rows_moved: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def _partitioned(pool: Pool, collection: str) -> catalog.Collection:
    async with translate_errors("reading the collection"), pool.connection() as conn:
        found = await catalog.get_collection(conn, collection)
    if found.partitions == 0:
        raise InputError(
            f"collection {collection!r} is not partitioned by tenant; partitioning is chosen when a collection is "
            "created (pgseek ingest --partitions N, PGSEEK_PARTITIONS)",
            field="collection",
        )
    if found.table is None:
        raise NotFoundError(f"collection {collection!r} has no vectors yet; ingest into it first")
    return found


async def report(pool: Pool, collection: str) -> PartitionReport:
    found = await _partitioned(pool, collection)
    assert found.table is not None
    async with translate_errors("reading the partitions"), pool.connection() as conn:
        leaves = await partitions.leaves(conn, found.table)
    rows = [PartitionRow(x.name, x.tenant, x.bound, x.rows, x.table_bytes, x.index_bytes) for x in leaves]
    return PartitionReport(collection, found.table, found.partitions, rows)


MOVE_ATTEMPTS = 3


async def move(pool: Pool, settings: Settings, collection: str, tenant: str) -> MoveReport:
    """Give ``tenant`` its own partition in every live version's table of ``collection``, in one transaction; tried
    again (up to ``MOVE_ATTEMPTS`` times) when a lock stayed held by work in progress, then BusyError."""
    for attempt in range(1, MOVE_ATTEMPTS + 1):
        try:
            return await _move(pool, settings, collection, tenant)
        except BusyError:
            if attempt == MOVE_ATTEMPTS:
                raise
            await asyncio.sleep(attempt)
    raise AssertionError("unreachable")


async def _move(pool: Pool, settings: Settings, collection: str, tenant: str) -> MoveReport:
    found = await _partitioned(pool, collection)
    build = BuildOptions(settings.hnsw_m, settings.hnsw_ef_construction, settings.index_build_memory, 0)
    started = time.perf_counter()
    moved, tables = 0, []
    async with (
        translate_errors("moving the tenant to its own partition"),
        pool.connection() as conn,
        conn.transaction(),
    ):
        await conn.execute(queries.maintenance_work_mem(settings.index_build_memory))
        for version in await versions.live_versions(conn, found.id):
            table = version.table
            if table is None or not await partitions.is_partitioned(conn, table):
                continue
            if any(x.tenant == tenant for x in await partitions.leaves(conn, table)):
                raise ConflictError(f"tenant {tenant!r} already has its own partition of {table}")
            spec = replace(found.index, dimensions=version.model.dimensions)
            has_index = await index_valid(conn, spec.name(table)) is not None
            column_type = await embedding_type(conn, table)
            moved += await partitions.move_tenant(conn, table, tenant, spec, column_type, build, has_index=has_index)
            tables.append(partitions.tenant_leaf_name(table, tenant))
    return MoveReport(collection, tenant, tables, moved, round(time.perf_counter() - started, 3))
