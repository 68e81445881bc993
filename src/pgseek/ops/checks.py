"""The doctor's checks: each turns the facts read from the database into findings, and needs no database itself.

A check is a function ``(Facts, Policy) -> list[Finding]`` in ``CHECKS``; a new one (IVFFlat growth once pgseek
builds IVFFlat indexes, partial indexes once it builds them) is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pgseek.db.catalog import CollectionVectors
from pgseek.db.health import IndexFacts, ServerFacts, TableFacts, TenantSize
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

    def vector_tables(self) -> list[CollectionVectors]:
        """One entry per (table, distance): collections sharing a model share its table and index."""
        seen: dict[tuple[str, str], CollectionVectors] = {}
        for c in self.collections:
            seen.setdefault((c.table, c.distance), c)
        return list(seen.values())

    def rows(self, table: str) -> int:
        """The table's rows: the statistics' live count, or the tenants' chunk counts when those are ahead."""
        live = self.tables[table].live_rows if table in self.tables else 0
        ids = {c.collection_id for c in self.collections if c.table == table}
        counted = sum(t.chunks for t in self.tenants if t.collection_id in ids)
        return max(live, counted)

    def serving_index(self, table: str, distance: str) -> IndexFacts | None:
        """The valid, full HNSW index that serves the distance's searches on the table, if any."""
        suffix = f"_{distance}_ops"
        return next(
            (
                i
                for i in self.indexes
                if i.table == table and i.method == "hnsw" and i.valid and not i.partial and i.opclass.endswith(suffix)
            ),
            None,
        )


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


Check = Callable[[Facts, Policy], list[Finding]]


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
        serving = facts.serving_index(used.table, used.distance)
        if serving is not None:
            message = f"{serving.name}: valid, {_mb(serving.size_bytes)} for {rows:,} rows"
            figures = {"size_bytes": serving.size_bytes, "rows": rows}
            found.append(Finding("indexes", "ok", used.table, message, figures=figures))
        elif rows == 0:
            message = f"{used.table} has no rows yet: its index is built after the first ingest"
            found.append(Finding("indexes", "ok", used.table, message))
        else:
            found.append(
                Finding(
                    "indexes",
                    "problem",
                    used.table,
                    f"{used.table} ({rows:,} rows, collection {used.collection}) has no valid HNSW index for "
                    f"{used.distance} distance: its searches scan every row",
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
        if rows == 0:
            continue
        m = _index_m(facts.serving_index(used.table, used.distance), policy.hnsw_m)
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
    """IVFFlat lists are fixed at build: a table grown well past it wants a rebuild. pgseek builds no IVFFlat index
    yet, so it records no build size to compare with: this check only names the IVFFlat indexes it sees."""
    found = [
        Finding(
            "ivfflat",
            "ok",
            i.name,
            f"IVFFlat index {i.name}, made outside pgseek: its build size is not recorded, so its growth is not "
            "checked",
        )
        for i in facts.indexes
        if i.method == "ivfflat"
    ]
    return found or [Finding("ivfflat", "ok", "deployment", "no IVFFlat index: not applicable")]


def partial_index_candidates(facts: Facts, policy: Policy) -> list[Finding]:
    """Tenants with 0.4% to 5% of a collection and more chunks than an exact scan reads: the iterative scan of the
    shared index loses them recall, a partial HNSW index of their own would not."""
    low, high = policy.partial_share
    found: list[Finding] = []
    for c in facts.collections:
        sizes = [t for t in facts.tenants if t.collection_id == c.collection_id]
        total = sum(t.chunks for t in sizes)
        chosen = (
            [t for t in sizes if low <= t.chunks / total <= high and t.chunks > policy.exact_search_below]
            if total
            else []
        )
        if not chosen:
            continue
        named = ", ".join(f"{t.tenant} ({t.chunks:,} chunks, {t.chunks / total:.1%})" for t in chosen[:10])
        more = f" and {len(chosen) - 10} more" if len(chosen) > 10 else ""
        found.append(
            Finding(
                "partial_indexes",
                "warn",
                f"collection {c.collection}",
                f"{len(chosen)} tenant(s) hold {low:.1%} to {high:.0%} of its {total:,} chunks: {named}{more}",
                "a partial HNSW index per tenant (WHERE tenant_id = ...) would give them a full index's recall; pgseek "
                "does not build those yet: until then raise PGSEEK_EF_SEARCH to the ef_search the recall check names "
                "for the mid bucket, or PGSEEK_EXACT_SEARCH_BELOW above their size to search them exactly",
                {"tenants": len(chosen), "chunks": total},
            )
        )
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
    prewarm,
)


def run_checks(facts: Facts, policy: Policy, checks: Sequence[Check] = CHECKS) -> list[Finding]:
    return [finding for check in checks for finding in check(facts, policy)]
