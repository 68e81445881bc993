"""The doctor's checks: each turns the facts read from the database into findings, and needs no database itself.

A check is a function ``(Facts, Policy) -> list[Finding]`` in ``CHECKS``; a new one is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pgseek.db.catalog import CollectionVectors
from pgseek.db.health import IndexFacts, LiveRecall, ServerFacts, TableFacts, TenantSize
from pgseek.db.indexes import IndexSpec, RecordedIndex, ivfflat_lists
from pgseek.ops.findings import Finding, Severity

CHUNKS_TABLE = "chunks"
MIN_PGVECTOR = (0, 8, 4)
"""HNSW vacuum before 0.8.4 could corrupt an index (pgvector#988, #993)."""
MIN_DEAD_ROWS = 50
"""Fewer dead rows than this are noise, whatever their share (autovacuum's own base threshold)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the checks read, gathered by ``pgseek.ops.doctor.gather`` in one pass."""

    server: ServerFacts
    collections: tuple[CollectionVectors, ...]
    tables: Mapping[str, TableFacts]
    """The vector tables and the chunks table, by name."""
    indexes: tuple[IndexFacts, ...]
    tenants: tuple[TenantSize, ...]
    recorded: tuple[RecordedIndex, ...] = ()
    """Build records of the IVFFlat and partial indexes pgseek built (migration 0014)."""
    live: tuple[LiveRecall, ...] = ()
    """Recall of live searches as ``pgseek serve`` measured it (migration 0014)."""

    def vector_tables(self) -> list[CollectionVectors]:
        """One entry per (table, index): collections sharing a model share its table and index."""
        seen: dict[tuple[str, IndexSpec], CollectionVectors] = {}
        for c in self.collections:
            seen.setdefault((c.table, c.index), c)
        return list(seen.values())

    def rows(self, table: str) -> int:
        """The table's rows: the statistics' live count, or the tenants' chunk counts when those are ahead."""
        live = self.tables[table].live_rows if table in self.tables else 0
        ids = {c.collection_id for c in self.collections if c.table == table}
        counted = sum(t.chunks for t in self.tenants if t.collection_id in ids)
        return max(live, counted)

    def serving_index(self, table: str, spec: IndexSpec) -> IndexFacts | None:
        """The valid, full index of the collection's kind that serves its searches on the table, if any: the one
        of pgseek's name, or (a plain HNSW collection) any HNSW index of the distance's operator class."""
        valid = [i for i in self.indexes if i.table == table and i.valid and not i.partial]
        named = next((i for i in valid if i.name == spec.name(table)), None)
        if named is not None or spec.quantization != "none":
            return named
        suffix = spec.opclass_suffix()
        return next((i for i in valid if i.method == spec.method and i.opclass.endswith(suffix)), None)

    def tenant_sizes(self, collection_id: int) -> tuple[int, list[TenantSize]]:
        """The collection's chunks in all and its tenants' sizes."""
        sizes = [t for t in self.tenants if t.collection_id == collection_id]
        return sum(t.chunks for t in sizes), sizes


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings and thresholds the checks judge by."""

    hnsw_m: int
    ef_search: int
    exact_search_below: int
    build_memory: str
    """PGSEEK_INDEX_BUILD_MEMORY: the maintenance_work_mem pgseek's index builds run with."""
    build_memory_bytes: int
    memory_bytes: int | None
    """The database machine's RAM when pgseek knows it (the embedded server runs here), else None."""
    vacuum_at: float = 0.10
    """Share of dead rows in a table past which it wants a VACUUM."""
    reindex_at: float = 0.20
    """Share of dead rows in a vector table past which its HNSW index wants REINDEX CONCURRENTLY (the seeds' 20%)."""
    vacuum_scale_factor: float = 0.01
    analyze_scale_factor: float = 0.005
    partial_share: tuple[float, float] = (0.004, 0.05)
    """Tenants with this share of a collection's chunks lose recall to iterative scans: a partial index's case."""
    ivfflat_min_rows: int = 10_000
    """PGSEEK_IVFFLAT_MIN_ROWS: an IVFFlat collection is searched exactly until its table holds this many rows."""
    live_recall_target: float = 0.95
    """Recall@k of live searches under which the doctor warns."""
    ivfflat_regrow: float = 2.0
    """An IVFFlat index is rebuilt once its table holds this many times the rows it was built over."""


Check = Callable[[Facts, Policy], list[Finding]]


def _kind(spec: IndexSpec) -> str:
    return {"ivfflat": "IVFFlat"}.get(spec.kind, "HNSW") + (
        "" if spec.quantization == "none" else f" {spec.quantization}"
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def versions(facts: Facts, policy: Policy) -> list[Finding]:
    s = facts.server
    figures = {"postgres": s.postgres_version, "pgvector": s.pgvector_version}
    minimum = ".".join(map(str, MIN_PGVECTOR))
    if s.pgvector_version is None or _version(s.pgvector_version) < MIN_PGVECTOR:
        return [
            Finding(
                "versions",
                "warn",
                "server",
                f"PostgreSQL {s.postgres_version}, pgvector {s.pgvector_version}: below {minimum}, vacuuming an HNSW "
                "index can corrupt it (pgvector#988, #993)",
                f"upgrade pgvector to {minimum} or newer (the package, then ALTER EXTENSION vector UPDATE), then "
                "REINDEX each vector index",
                figures,
            )
        ]
    message = f"PostgreSQL {s.postgres_version}, pgvector {s.pgvector_version}"
    return [Finding("versions", "ok", "server", message, figures=figures)]


def vector_indexes(facts: Facts, policy: Policy) -> list[Finding]:
    """Each vector table has a valid HNSW index for its distance; no index is left invalid by a killed build."""
    found: list[Finding] = []
    for index in facts.indexes:
        if index.valid:
            continue
        if index.building:
            message = f"{index.method} index {index.name} is being built (not used until its build ends)"
            found.append(Finding("indexes", "warn", index.name, message, "let the build finish; check again after"))
            continue
        found.append(
            Finding(
                "indexes",
                "problem",
                index.name,
                f"{index.method} index {index.name} on {index.table} is invalid (a build was killed): no search uses "
                "it, and every write still updates it",
                "run pgseek maintain --apply (it rebuilds it with REINDEX INDEX CONCURRENTLY)",
            )
        )
    for used in facts.vector_tables():
        rows = facts.rows(used.table)
        serving = facts.serving_index(used.table, used.index)
        if serving is not None:
            message = f"{serving.name}: valid, {_mb(serving.size_bytes)} for {rows:,} rows"
            figures = {"size_bytes": serving.size_bytes, "rows": rows}
            found.append(Finding("indexes", "ok", used.table, message, figures=figures))
        elif rows == 0:
            message = f"{used.table} has no rows yet: its index is built after the first ingest"
            found.append(Finding("indexes", "ok", used.table, message))
        elif used.index_kind == "ivfflat" and rows < policy.ivfflat_min_rows:
            message = (
                f"{used.table} ({rows:,} rows) is searched exactly until it holds {policy.ivfflat_min_rows:,} rows "
                "(PGSEEK_IVFFLAT_MIN_ROWS): then its IVFFlat index is built, its lists clustered from those rows"
            )
            found.append(Finding("indexes", "ok", used.table, message, figures={"rows": rows}))
        else:
            found.append(
                Finding(
                    "indexes",
                    "problem",
                    used.table,
                    f"{used.table} ({rows:,} rows, collection {used.collection}) has no valid "
                    f"{_kind(used.index)} index for {used.distance} distance: its searches scan every row",
                    "run pgseek maintain --apply (it builds the index with CREATE INDEX CONCURRENTLY)",
                    {"rows": rows},
                )
            )
    return found


def index_memory(facts: Facts, policy: Policy) -> list[Finding]:
    """HNSW searches read the graph at random: it must stay in memory, in shared_buffers at best."""
    served = [i for i in facts.indexes if i.valid]
    if not served:
        return []
    total = sum(i.size_bytes for i in served)
    buffers = facts.server.shared_buffers_bytes
    memory = policy.memory_bytes or facts.server.effective_cache_size_bytes
    memory_name = "RAM" if policy.memory_bytes else "effective_cache_size (the server's RAM is not known here)"
    figures = {"index_bytes": total, "shared_buffers_bytes": buffers, "memory_bytes": memory}
    sizes = f"vector indexes {_mb(total)}; shared_buffers {_mb(buffers)}; {memory_name} {_mb(memory)}"
    if total > memory:
        advice = (
            "add memory, store vectors as float16 (PGSEEK_EMBED_PRECISION=float16, a new collection), or move "
            "collections to another server: an index read from disk makes every search wait on I/O"
        )
        return [Finding("memory", "problem", "vector indexes", f"{sizes}: the indexes exceed memory", advice, figures)]
    if total > buffers:
        advice = (
            f"raise shared_buffers to at least {_mb(total)} (about a quarter of RAM is usual), or accept that "
            "searches read the rest from the operating system's cache"
        )
        return [Finding("memory", "warn", "vector indexes", f"{sizes}: they exceed shared_buffers", advice, figures)]
    return [Finding("memory", "ok", "vector indexes", f"{sizes}: they fit in shared_buffers", figures=figures)]


def dead_tuples(facts: Facts, policy: Policy) -> list[Finding]:
    """Dead rows make HNSW searches return fewer rows (pgvector#244) and bloat the graph."""
    vector_tables = {c.table for c in facts.collections}
    found: list[Finding] = []
    for table in sorted(vector_tables | {CHUNKS_TABLE}):
        stats = facts.tables.get(table)
        if stats is None:
            continue
        ratio = stats.dead_ratio
        figures = {"dead_rows": stats.dead_rows, "live_rows": stats.live_rows, "dead_ratio": round(ratio, 4)}
        share = f"{stats.dead_rows:,} dead rows of {stats.dead_rows + stats.live_rows:,} ({ratio:.0%})"
        severity: Severity = "ok"
        advice = ""
        if stats.dead_rows >= MIN_DEAD_ROWS and ratio >= policy.vacuum_at:
            severity = "warn"
            advice = "run pgseek maintain --apply (VACUUM (ANALYZE))"
            if table in vector_tables and ratio >= policy.reindex_at:
                severity = "problem"
                advice = (
                    "run pgseek maintain --apply: REINDEX INDEX CONCURRENTLY of its vector index, then VACUUM "
                    "(ANALYZE); vacuuming a bloated HNSW index alone can take hours (pgvector#450)"
                )
        found.append(Finding("dead_tuples", severity, table, share, advice, figures))
    return found


def autovacuum_of(stats: TableFacts, server: ServerFacts) -> tuple[float, float, bool]:
    """The table's autovacuum: its vacuum and analyze scale factors (its own, else the server's), and whether it
    is turned off for the table."""
    vacuum = float(stats.option("autovacuum_vacuum_scale_factor") or server.vacuum_scale_factor)
    analyze = float(stats.option("autovacuum_analyze_scale_factor") or server.analyze_scale_factor)
    return vacuum, analyze, (stats.option("autovacuum_enabled") or "true").lower() in {"false", "off", "0", "no"}


def autovacuum(facts: Facts, policy: Policy) -> list[Finding]:
    """Autovacuum on, and on vector and chunk tables early enough: the seeds' scale factors 0.01 / 0.005."""
    s = facts.server
    if not s.autovacuum:
        advice = "turn autovacuum on in postgresql.conf (autovacuum = on) and reload the server"
        return [Finding("autovacuum", "problem", "server", "autovacuum is off: dead rows pile up", advice)]
    found: list[Finding] = []
    for table in sorted({c.table for c in facts.collections} | {CHUNKS_TABLE}):
        stats = facts.tables.get(table)
        if stats is None:
            continue
        vacuum, analyze, disabled = autovacuum_of(stats, s)
        figures = {"vacuum_scale_factor": vacuum, "analyze_scale_factor": analyze}
        if disabled:
            message = f"autovacuum is off for {table}"
            advice = "run pgseek maintain --apply (it turns it back on, with the scale factors 0.01 / 0.005)"
            found.append(Finding("autovacuum", "problem", table, message, advice, figures))
        elif vacuum > policy.vacuum_scale_factor or analyze > policy.analyze_scale_factor:
            message = f"{table} is vacuumed after {vacuum:.1%} of its rows change, analyzed after {analyze:.1%}"
            advice = (
                f"run pgseek maintain --apply (scale factors {policy.vacuum_scale_factor} / "
                f"{policy.analyze_scale_factor}: a large vector table is vacuumed before its dead rows pile up)"
            )
            found.append(Finding("autovacuum", "warn", table, message, advice, figures))
        else:
            message = f"{table}: vacuum at {vacuum:.1%}, analyze at {analyze:.1%} of its rows changed"
            found.append(Finding("autovacuum", "ok", table, message, figures=figures))
    return found


def hnsw_build_bytes(rows: int, dimensions: int, precision: str, m: int) -> int:
    """Memory pgvector's HNSW build needs to hold the whole graph (hnswbuild.c): per element its value (a varlena
    of 2 or 4 bytes per dimension), its neighbour lists (2m candidates of 16 bytes at level 0, m at the rare upper
    levels) and about 128 bytes of element header and heap tids."""
    value = 8 + dimensions * (2 if precision == "float16" else 4)
    neighbours = 16 * (2 * m + m / max(m - 1, 1))
    return int(rows * (value + neighbours + 128))


def _index_m(index: IndexFacts | None, default: int) -> int:
    option = next((o for o in (index.options if index else ()) if o.startswith("m=")), None)
    return int(option.removeprefix("m=")) if option else default


def build_memory(facts: Facts, policy: Policy) -> list[Finding]:
    """The next build of each index (a REINDEX, or a fresh one) fits in the memory pgseek's builds get."""
    found: list[Finding] = []
    for used in facts.vector_tables():
        rows = facts.rows(used.table)
        if rows == 0 or used.index_kind != "hnsw":
            continue
        m = _index_m(facts.serving_index(used.table, used.index), policy.hnsw_m)
        need = hnsw_build_bytes(rows, used.dimensions, used.precision, m)
        figures = {"need_bytes": need, "build_memory_bytes": policy.build_memory_bytes, "rows": rows, "m": m}
        message = (
            f"rebuilding its index ({rows:,} rows of {used.dimensions} dims, m={m}) needs about {_mb(need)}; "
            f"builds get {policy.build_memory} (PGSEEK_INDEX_BUILD_MEMORY; the server's maintenance_work_mem is "
            f"{_mb(facts.server.maintenance_work_mem_bytes)})"
        )
        if need > policy.build_memory_bytes:
            advice = (
                f"raise PGSEEK_INDEX_BUILD_MEMORY to at least {need // 2**20 + 1}MB, within the server's free RAM: a "
                "graph that outgrows it is built on disk, several times slower"
            )
            found.append(Finding("build_memory", "warn", used.table, message, advice, figures))
        else:
            found.append(Finding("build_memory", "ok", used.table, message, figures=figures))
    return found


def ivfflat_growth(facts: Facts, policy: Policy) -> list[Finding]:
    """IVFFlat lists are clustered once, from the rows there are at build: a table grown well past them has lists too
    long for the probes each query makes (slower, or lower recall), and wants a rebuild with lists for its size."""
    found: list[Finding] = []
    recorded = {r.name: r for r in facts.recorded if r.kind == "ivfflat"}
    for index in (i for i in facts.indexes if i.method == "ivfflat"):
        built = recorded.get(index.name)
        if built is None:
            message = f"IVFFlat index {index.name}, made outside pgseek: its build size is not recorded"
            found.append(Finding("ivfflat", "ok", index.name, message))
            continue
        rows = facts.rows(built.table)
        lists = built.lists or 1
        figures = {"rows": rows, "rows_at_build": built.rows_at_build, "lists": lists, "lists_now": ivfflat_lists(rows)}
        message = f"built over {built.rows_at_build:,} rows with {lists:,} lists; the table holds {rows:,}"
        if outgrown(built, rows, policy):
            advice = (
                f"run pgseek maintain --apply: it builds a copy with {ivfflat_lists(rows):,} lists CONCURRENTLY and "
                "swaps it in (searches go on)"
            )
            message += f", {rows / max(built.rows_at_build, 1):.1f}x its build size"
            found.append(Finding("ivfflat", "warn", index.name, message, advice, figures))
        else:
            found.append(Finding("ivfflat", "ok", index.name, message, figures=figures))
    return found or [Finding("ivfflat", "ok", "deployment", "no IVFFlat index: not applicable")]


def outgrown(built: RecordedIndex, rows: int, policy: Policy) -> bool:
    """Whether an IVFFlat index's table grew past ``ivfflat_regrow`` times its build size, to a size that wants
    other lists."""
    return rows >= policy.ivfflat_regrow * max(built.rows_at_build, 1) and ivfflat_lists(rows) != built.lists


@dataclass(frozen=True, slots=True)
class PartialPlan:
    """Partial indexes to build (collection, tenant) and to drop (their records, each with why)."""

    build: tuple[tuple[CollectionVectors, TenantSize], ...]
    drop: tuple[tuple[RecordedIndex, str], ...]
    kept: tuple[RecordedIndex, ...]


def deserves_partial(chunks: int, total: int, policy: Policy, *, keep: bool = False) -> bool:
    """A tenant searched through the index (above the exact bound) with 0.4% to 5% of the collection: where the
    shared graph's iterative scan loses recall. An index already built is kept down to half the lower share and up
    to twice the upper, so that a tenant near a bound does not see it built and dropped by turns."""
    low, high = policy.partial_share
    if keep:
        low, high = low / 2, min(high * 2, 1.0)
    return total > 0 and chunks > policy.exact_search_below and low <= chunks / total <= high


def partial_plan(facts: Facts, policy: Policy) -> PartialPlan:
    """Which tenants get a partial HNSW index of their own (decision 0028), which indexes go, which stay."""
    build: list[tuple[CollectionVectors, TenantSize]] = []
    drop: list[tuple[RecordedIndex, str]] = []
    kept: list[RecordedIndex] = []
    partials = [r for r in facts.recorded if r.kind == "partial"]
    for c in facts.collections:
        total, sizes = facts.tenant_sizes(c.collection_id)
        mine = {str(r.tenant): r for r in partials if r.table == c.table and r.collection_id == c.collection_id}
        by_tenant = {t.tenant: t for t in sizes}
        for tenant, record in sorted(mine.items(), key=lambda item: item[1].name):
            size = by_tenant.get(tenant)
            if c.index_kind != "hnsw":
                drop.append((record, "the collection's index is not HNSW"))
            elif size is None:
                drop.append((record, "the tenant has no chunks left in the collection"))
            elif not deserves_partial(size.chunks, total, policy, keep=True):
                drop.append((record, f"the tenant shrank to {size.chunks:,} chunks ({size.chunks / total:.2%})"))
            else:
                kept.append(record)
        # A partitioned collection gives a large tenant a partition of its own instead (decision 0031): CREATE INDEX
        # CONCURRENTLY does not take a partitioned table.
        if c.index_kind == "hnsw" and c.partitions == 0:
            build += [(c, t) for t in sizes if t.tenant not in mine and deserves_partial(t.chunks, total, policy)]
    return PartialPlan(tuple(build), tuple(drop), tuple(kept))


def partial_index_candidates(facts: Facts, policy: Policy) -> list[Finding]:
    """Tenants with 0.4% to 5% of a collection and more chunks than an exact scan reads lose recall to the shared
    index's iterative scan: each gets a partial HNSW index of its own (decision 0028); one whose tenant shrank or went
    is dropped."""
    plan = partial_plan(facts, policy)
    found: list[Finding] = []
    for c, t in plan.build:
        total, _ = facts.tenant_sizes(c.collection_id)
        found.append(
            Finding(
                "partial_indexes",
                "warn",
                f"collection {c.collection}",
                f"tenant {t.tenant} ({t.chunks:,} chunks, {t.chunks / total:.1%}) deserves a partial HNSW index: the "
                "shared index's iterative scan loses recall at its size",
                "run pgseek maintain --apply (it builds it CONCURRENTLY; PGSEEK_PARTIAL_INDEXES=auto does after "
                "each ingest)",
                {"tenant": t.tenant, "chunks": t.chunks, "share": round(t.chunks / total, 5)},
            )
        )
    for record, why in plan.drop:
        advice = "run pgseek maintain --apply (it drops it CONCURRENTLY)"
        message = f"partial index of tenant {record.tenant} is no longer needed: {why}"
        found.append(Finding("partial_indexes", "warn", record.name, message, advice, {"tenant": record.tenant}))
    for record in plan.kept:
        message = f"partial index of tenant {record.tenant}, built over {record.rows_at_build:,} chunks"
        found.append(Finding("partial_indexes", "ok", record.name, message, figures={"tenant": record.tenant}))
    return found


def live_recall(facts: Facts, policy: Policy) -> list[Finding]:
    """The recall ``pgseek serve`` measures on its own searches, re-run exactly in the background: what users got."""
    names = {c.collection_id: c.collection for c in facts.collections}
    found: list[Finding] = []
    for live in (r for r in facts.live if r.collection_id in names):
        subject = f"collection {names[live.collection_id]}"
        message = (
            f"recall@{live.k} {live.recall:.3f} over the last {live.queries} sampled live searches "
            f"(measured {live.measured_at:%Y-%m-%d %H:%M} UTC by pgseek serve)"
        )
        figures = {"recall": round(live.recall, 4), "k": live.k, "queries": live.queries}
        if live.recall < policy.live_recall_target:
            advice = (
                "run pgseek doctor with recall to find the ef_search that reaches the target per tenant size, and "
                "pgseek maintain --apply for the partial indexes of mid-size tenants"
            )
            found.append(Finding("live_recall", "warn", subject, message, advice, figures))
        else:
            found.append(Finding("live_recall", "ok", subject, message, figures=figures))
    return found


def prewarm(facts: Facts, policy: Policy) -> list[Finding]:
    s = facts.server
    if not s.prewarm_available:
        message = "pg_prewarm is not installed on the server: after a restart, the first searches read the index "
        message += "from disk"
        return [Finding("prewarm", "ok", "server", message, "install PostgreSQL's contrib package to have it")]
    state = "installed" if s.prewarm_installed else "available"
    message = f"pg_prewarm is {state}: pgseek maintain --apply loads the vector indexes into memory (after a restart)"
    return [Finding("prewarm", "ok", "server", message)]


CHECKS: tuple[Check, ...] = (
    versions,
    vector_indexes,
    index_memory,
    dead_tuples,
    autovacuum,
    build_memory,
    ivfflat_growth,
    partial_index_candidates,
    live_recall,
    prewarm,
)


def run_checks(facts: Facts, policy: Policy, checks: Sequence[Check] = CHECKS) -> list[Finding]:
    return [finding for check in checks for finding in check(facts, policy)]
