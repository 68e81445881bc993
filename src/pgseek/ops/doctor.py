"""``pgseek doctor``: read the facts in one pass, run every check on them, measure recall, report."""

from __future__ import annotations

import os

from pgseek.config import Settings
from pgseek.db import catalog, health, indexes
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import Conn
from pgseek.ops.checks import CHUNKS_TABLE, Facts, Policy, run_checks
from pgseek.ops.findings import DoctorReport
from pgseek.ops.recall import RecallOptions, measure, recall_findings

PARTIAL_SHARE_HIGH = 0.05
"""Above this share of a collection a tenant's iterative scans of the shared index keep their recall (issue 15)."""
_UNITS = {"kB": 2**10, "MB": 2**20, "GB": 2**30}


def size_bytes(setting: str) -> int:
    """Bytes of a size setting as pgseek's settings write them (``512MB``, ``1GB``, ``64kB``)."""
    for unit, factor in _UNITS.items():
        if setting.endswith(unit):
            return int(setting.removesuffix(unit)) * factor
    return int(setting)


def machine_memory() -> int | None:
    """This machine's RAM, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def policy(settings: Settings) -> Policy:
    """The checks' policy from the settings. The embedded server runs on this machine, so its RAM is known; a
    server at PGSEEK_DATABASE_URL may run elsewhere, and the checks fall back on its effective_cache_size."""
    return Policy(
        hnsw_m=settings.hnsw_m,
        ef_search=settings.ef_search,
        exact_search_below=settings.exact_search_below,
        build_memory=settings.index_build_memory,
        build_memory_bytes=size_bytes(settings.index_build_memory),
        memory_bytes=machine_memory() if settings.embedded else None,
        partial_share=(settings.partial_index_share, max(PARTIAL_SHARE_HIGH, settings.partial_index_share)),
        ivfflat_min_rows=settings.ivfflat_min_rows,
    )


async def gather(conn: Conn, collection: str | None = None) -> Facts:
    """Every fact the checks read, for one collection (and the tables it uses) or for the whole deployment. A
    collection named but missing is a NotFoundError."""
    if collection is not None:
        await catalog.get_collection(conn, collection)
    used = await catalog.collection_vector_tables(conn, collection)
    tables = sorted({u.table for u in used} | {CHUNKS_TABLE})
    return Facts(
        server=await health.server_facts(conn),
        collections=tuple(used),
        tables={t.table: t for t in await health.table_facts(conn, tables)},
        indexes=tuple(await health.index_facts(conn, tables)),
        tenants=tuple(await health.tenant_sizes(conn, [u.collection_id for u in used])),
        recorded=tuple(await indexes.recorded_indexes(conn, tables)),
        live=tuple(await health.live_recall(conn, [u.collection_id for u in used])),
    )


async def doctor(
    pool: Pool, settings: Settings, *, collection: str | None = None, recall: RecallOptions | None = None
) -> DoctorReport:
    """The report: every check's findings, then (unless ``recall`` is None) recall per tenant size bucket."""
    rules = policy(settings)
    async with translate_errors("examining the database"):
        async with pool.connection() as conn:
            facts = await gather(conn, collection)
        buckets = await measure(pool, facts, rules, recall) if recall is not None else []
    findings = run_checks(facts, rules) + recall_findings(buckets, rules)
    return DoctorReport(tuple(findings), tuple(buckets))
