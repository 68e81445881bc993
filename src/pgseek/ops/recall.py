"""Recall@10 of the search path against exact search, per tenant size bucket of each collection, and the smallest
ef_search that reaches a target.

The queries are stored vectors of random chunks of the sampled tenants: no model is needed, and they lie where the
tenant's own data lies, as its users' questions do. Each is searched twice under the tenant's scope through
``vector_search``, the function searches use: exactly (index scans off) and by the HNSW index (iterative scan) at
each ef_search of a ladder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pgseek.db import catalog, health
from pgseek.db.connect import Pool
from pgseek.db.health import TenantSize
from pgseek.db.scope import Conn, enter_tenant
from pgseek.db.search import VectorTuning, vector_search
from pgseek.ops.checks import Facts, Policy
from pgseek.ops.findings import Finding, LadderStep, RecallBucket

K = 10
LADDER: tuple[int, ...] = (40, 80, 160, 320, 640, 1000)
"""ef_search values tried, doubling up to pgvector's maximum (1000)."""
BUCKETS = ("large", "mid", "small")


@dataclass(frozen=True, slots=True)
class RecallOptions:
    queries: int = 20
    """Queries per bucket, spread over its sampled tenants."""
    tenants_per_bucket: int = 3
    target: float = 0.95
    max_scan_tuples: int = 20000


def bucket_of(chunks: int, total: int, policy: Policy) -> str:
    """``exact`` at or below the exact-search bound; else by share of the collection: large over 5%, mid from 0.4%,
    small under it (the shares where the iterative scan loses recall are the mid ones)."""
    if chunks <= policy.exact_search_below:
        return "exact"
    low, high = policy.partial_share
    share = chunks / total
    return "large" if share > high else "mid" if share >= low else "small"


def _spread(tenants: Sequence[TenantSize], count: int) -> list[TenantSize]:
    """Up to ``count`` tenants spread over the bucket's size range (largest, smallest, between)."""
    if len(tenants) <= count:
        return list(tenants)
    step = (len(tenants) - 1) / max(count - 1, 1)
    return [tenants[round(i * step)] for i in range(count)]


async def _nearest(
    conn: Conn, table: str, found: catalog.Collection, tenant: str, query: NDArray[np.float32], tuning: VectorTuning
) -> set[int]:
    async with conn.transaction():  # one query, one transaction: its SET LOCAL settings end with it
        scope = await enter_tenant(conn, tenant)
        rows, _ = await vector_search(scope, table, found, query, k=K, tuning=tuning)
    return {r.chunk_id for r in rows}


async def _bucket(
    conn: Conn,
    used: catalog.CollectionVectors,
    tenants: Sequence[TenantSize],
    bucket: str,
    policy: Policy,
    options: RecallOptions,
) -> RecallBucket:
    sampled = _spread(tenants, options.tenants_per_bucket)
    per_tenant = math.ceil(options.queries / len(sampled))
    # Its own transaction, ended before the searches: each search's must be a transaction of its own, or its
    # SET LOCAL role, tenant and plan settings would last until the end of an enclosing one.
    async with conn.transaction():
        found = await catalog.get_collection(conn, used.collection)
        samples = [
            (t.tenant, vector)
            for t in sampled
            for vector in await health.sample_vectors(conn, used.table, used.collection_id, t.tenant, per_tenant)
        ]
    exact = VectorTuning(ef_search=K, max_scan_tuples=options.max_scan_tuples, exact_below=2**62)
    queries = [
        (tenant, vector, await _nearest(conn, used.table, found, tenant, vector, exact)) for tenant, vector in samples
    ]
    ladder: list[LadderStep] = []
    # ef_search does not touch an IVFFlat search (its probes do): one step, at the setting in force.
    ladder_values = {policy.ef_search} if used.index_kind == "ivfflat" else {*LADDER, policy.ef_search}
    for ef in sorted(ladder_values):
        tuning = VectorTuning(ef_search=ef, max_scan_tuples=options.max_scan_tuples, exact_below=0)
        recalls = [
            len(await _nearest(conn, used.table, found, tenant, vector, tuning) & truth) / len(truth) if truth else 1.0
            for tenant, vector, truth in queries
        ]
        ladder.append(LadderStep(ef, sum(recalls) / len(recalls) if recalls else 1.0))
        if ef >= policy.ef_search and ladder[-1].recall_at_10 >= options.target:
            break
    configured = next(s.recall_at_10 for s in ladder if s.ef_search == policy.ef_search)
    reaching = next((s.ef_search for s in ladder if s.recall_at_10 >= options.target), None)
    return RecallBucket(
        used.collection,
        bucket,
        len(tenants),
        len(sampled),
        len(queries),
        policy.ef_search,
        configured,
        options.target,
        reaching,
        tuple(ladder),
    )


async def measure(pool: Pool, facts: Facts, policy: Policy, options: RecallOptions) -> list[RecallBucket]:
    """Recall per size bucket of each collection whose table has a serving index (without one, every search is
    exact already)."""
    measured: list[RecallBucket] = []
    async with pool.connection() as conn:
        for used in facts.collections:
            if facts.serving_index(used.table, used.index) is None:
                continue
            sizes = [t for t in facts.tenants if t.collection_id == used.collection_id]
            total = sum(t.chunks for t in sizes)
            groups: dict[str, list[TenantSize]] = {}
            for t in sizes:
                groups.setdefault(bucket_of(t.chunks, total, policy), []).append(t)
            for bucket in BUCKETS:
                if bucket in groups:
                    measured.append(await _bucket(conn, used, groups[bucket], bucket, policy, options))
            if "exact" in groups:
                count = len(groups["exact"])
                measured.append(
                    RecallBucket(used.collection, "exact", count, 0, 0, policy.ef_search, 1.0, options.target, None)
                )
    return measured


def recall_findings(buckets: Sequence[RecallBucket], policy: Policy) -> list[Finding]:
    found: list[Finding] = []
    for b in buckets:
        subject = f"collection {b.collection}, {b.bucket} tenants"
        figures = {"recall_at_10": round(b.recall_at_10, 4), "ef_search": b.ef_search, "ef_to_target": b.ef_to_target}
        if b.bucket == "exact":
            message = f"{b.tenants} tenant(s) at or below {policy.exact_search_below:,} chunks: searched exactly"
            found.append(Finding("recall", "ok", subject, message, figures=figures))
            continue
        measured = f"recall@10 {b.recall_at_10:.3f} at ef_search {b.ef_search} ({b.queries} queries, "
        measured += f"{b.tenants_sampled} of {b.tenants} tenant(s))"
        if b.recall_at_10 >= b.target:
            found.append(Finding("recall", "ok", subject, f"{measured}: target {b.target} reached", figures=figures))
        elif b.ef_to_target is not None:
            reached = next(s.recall_at_10 for s in b.ladder if s.ef_search == b.ef_to_target)
            advice = f"set PGSEEK_EF_SEARCH={b.ef_to_target} (recall@10 {reached:.3f}; searches get slower)"
            found.append(Finding("recall", "warn", subject, f"{measured}: under {b.target}", advice, figures))
        else:
            advice = (
                "no ef_search up to 1000 reaches it: for mid-size tenants a partial HNSW index of their own "
                "(pgseek maintain --apply builds it), or PGSEEK_EXACT_SEARCH_BELOW above their size; for the others "
                "rebuild the index with a larger PGSEEK_HNSW_M / PGSEEK_HNSW_EF_CONSTRUCTION (an IVFFlat "
                "collection: raise PGSEEK_IVFFLAT_PROBES)"
            )
            found.append(Finding("recall", "problem", subject, f"{measured}: under {b.target}", advice, figures))
    return found
