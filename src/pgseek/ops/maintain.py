"""``pgseek maintain``: the fixes for what the doctor finds, each safe to run while pgseek serves. A dry run lists
them; ``apply`` runs them one by one on a connection of its own (pgseek.db.maintenance), in this order: rebuild
invalid or bloated indexes (REINDEX INDEX CONCURRENTLY before VACUUM: vacuuming a bloated HNSW graph is what takes
hours, pgvector#450), build missing ones, rebuild outgrown IVFFlat indexes, build and drop partial per-tenant
indexes (decision 0028), VACUUM (ANALYZE), autovacuum scale factors, pg_prewarm."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from pgseek.config import Settings
from pgseek.db import indexes, maintenance
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.indexes import BuildOptions, ivfflat_lists
from pgseek.db.maintenance import Statement
from pgseek.db.scope import Conn
from pgseek.errors import ConflictError, DatabaseError
from pgseek.ops.checks import MIN_DEAD_ROWS, Facts, Policy, autovacuum_of, outgrown, partial_plan
from pgseek.ops.doctor import gather, policy

Status = Literal["planned", "done", "failed"]
# What a killed REINDEX CONCURRENTLY leaves behind: the half-built copy (_ccnew) or the old one (_ccold). Dropped,
# not rebuilt: the index they copy is still there.
_LEFTOVER = re.compile(r"_cc(new|old)\d*$")


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    """reindex, drop_index, build_index, rebuild_ivfflat, build_partial, drop_partial, vacuum, autovacuum, prewarm"""
    subject: str
    """The table or index it acts on."""
    reason: str
    statement: str
    status: Status = "planned"
    seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MaintainReport:
    applied: bool
    actions: tuple[Action, ...]

    @property
    def failed(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.status == "failed")

    def to_json(self) -> dict[str, Any]:
        return {"applied": self.applied, "actions": [asdict(a) for a in self.actions]}


@dataclass(frozen=True, slots=True)
class Fix:
    """A planned action with the statement that carries it out. The planners below are pure but for
    ``build_fixes`` (it reads the column type for the operator class): each takes the doctor's facts."""

    action: Action
    statement: Statement
    then: tuple[Statement, ...] = ()
    """Run after ``statement``, in order, each only when the one before succeeded (a swap, a build's record)."""


def _fix(kind: str, subject: str, reason: str, statement: Statement, *then: Statement) -> Fix:
    text = ";\n".join(s.text for s in (statement, *then))
    return Fix(Action(kind, subject, reason, text), statement, tuple(then))


def index_fixes(facts: Facts, rules: Policy) -> list[Fix]:
    """Drop REINDEX leftovers, rebuild invalid indexes, and the HNSW indexes of tables with too many dead rows."""
    steps: list[Fix] = []
    for index in facts.indexes:
        if index.valid or index.building:
            continue
        if _LEFTOVER.search(index.name):
            reason = "left behind by a killed REINDEX CONCURRENTLY"
            steps.append(_fix("drop_index", index.name, reason, maintenance.drop_index(index.name)))
        else:
            steps.append(_fix("reindex", index.name, "invalid (a build was killed)", maintenance.reindex(index.name)))
    for table, stats in facts.tables.items():
        if stats.dead_rows < MIN_DEAD_ROWS or stats.dead_ratio < rules.reindex_at:
            continue
        for index in facts.indexes:
            if index.table == table and index.valid and index.method == "hnsw":
                reason = f"{stats.dead_ratio:.0%} of {table}'s rows are dead"
                steps.append(_fix("reindex", index.name, reason, maintenance.reindex(index.name)))
    return steps


def _build_options(settings: Settings) -> BuildOptions:
    s = settings
    return BuildOptions(s.hnsw_m, s.hnsw_ef_construction, s.index_build_memory, s.ivfflat_min_rows)


async def build_fixes(conn: Conn, facts: Facts, settings: Settings) -> list[Fix]:
    """The missing index of each vector table, of its collection's kind; an IVFFlat one once there are enough rows
    (until then its searches are exact, as they would be without it), recorded with its lists."""
    steps: list[Fix] = []
    build = _build_options(settings)
    for used in facts.vector_tables():
        rows = facts.rows(used.table)
        if facts.serving_index(used.table, used.index) is not None or rows == 0:
            continue
        if any(i.table == used.table and i.method == used.index_kind and not i.valid for i in facts.indexes):
            continue  # rebuilt by its own REINDEX step, or being built
        name, reason = used.index.name(used.table), f"no valid {used.index_kind} index for {used.distance}"
        if used.index_kind != "ivfflat":
            steps.append(
                _fix(
                    "build_index",
                    used.table,
                    reason,
                    await maintenance.build_index(conn, used.table, used.index, build, partitioned=used.partitions > 0),
                )
            )
        elif rows >= settings.ivfflat_min_rows:
            lists = ivfflat_lists(rows)
            statement = await maintenance.build_index(conn, used.table, used.index, build, lists=lists)
            record = indexes.record_statement(name, used.table, used.collection_id, "ivfflat", rows, lists=lists)
            steps.append(_fix("build_index", used.table, reason, statement, maintenance.composed(record)))
    return steps


async def ivfflat_fixes(conn: Conn, facts: Facts, rules: Policy, settings: Settings) -> list[Fix]:
    """Rebuild each IVFFlat index whose table outgrew its lists: a copy with lists for today's size, built
    CONCURRENTLY, then swapped in (drop the old one CONCURRENTLY, rename the copy), then recorded."""
    steps: list[Fix] = []
    valid = {i.name for i in facts.indexes if i.valid}
    for built in (r for r in facts.recorded if r.kind == "ivfflat" and r.name in valid):
        used = next((c for c in facts.collections if c.table == built.table and c.index_kind == "ivfflat"), None)
        rows = facts.rows(built.table)
        if used is None or not outgrown(built, rows, rules):
            continue
        lists, copy = ivfflat_lists(rows), f"{built.name}_next"
        reason = (
            f"{rows:,} rows, {rows / max(built.rows_at_build, 1):.1f}x the {built.rows_at_build:,} it was built over"
        )
        statement = await maintenance.build_index(
            conn, built.table, used.index, _build_options(settings), index=copy, lists=lists
        )
        swap = (
            maintenance.drop_index(built.name),
            maintenance.composed(indexes.rename_statement(copy, built.name)),
            maintenance.composed(
                indexes.record_statement(built.name, built.table, built.collection_id, "ivfflat", rows, lists=lists)
            ),
        )
        steps.append(_fix("rebuild_ivfflat", built.name, reason, statement, *swap))
    return steps


async def partial_fixes(conn: Conn, facts: Facts, rules: Policy, settings: Settings) -> list[Fix]:
    """Build the partial HNSW index of each tenant that deserves one, drop those whose tenant shrank or went
    (decision 0028); every build and drop CONCURRENTLY, with its record."""
    plan = partial_plan(facts, rules)
    steps: list[Fix] = []
    for record, why in plan.drop:
        drop = maintenance.drop_index(record.name)
        steps.append(
            _fix("drop_partial", record.name, why, drop, maintenance.composed(indexes.forget_statement(record.name)))
        )
    for used, size in plan.build:
        name = indexes.partial_index_name(used.table, used.collection_id, size.tenant)
        statement = await maintenance.build_index(
            conn, used.table, used.index, _build_options(settings), index=name, tenant=(size.tenant, used.collection_id)
        )
        recorded = indexes.record_statement(
            name, used.table, used.collection_id, "partial", size.chunks, tenant=size.tenant
        )
        reason = f"tenant {size.tenant}: {size.chunks:,} chunks"
        steps.append(_fix("build_partial", name, reason, statement, maintenance.composed(recorded)))
    return steps


def table_fixes(facts: Facts, rules: Policy) -> list[Fix]:
    """VACUUM (ANALYZE) of tables with dead rows; the seeds' autovacuum scale factors where they are not set."""
    steps: list[Fix] = []
    for table in sorted(facts.tables):
        stats = facts.tables[table]
        if stats.dead_rows >= MIN_DEAD_ROWS and stats.dead_ratio >= rules.vacuum_at:
            reason = f"{stats.dead_rows:,} dead rows ({stats.dead_ratio:.0%})"
            steps.append(_fix("vacuum", table, reason, maintenance.vacuum(table)))
    s = facts.server
    for table in sorted(facts.tables):
        stats = facts.tables[table]
        vacuum, analyze, disabled = autovacuum_of(stats, s)
        if disabled or vacuum > rules.vacuum_scale_factor or analyze > rules.analyze_scale_factor:
            reason = f"autovacuum at {vacuum} / {analyze}{', turned off for it' if disabled else ''}"
            statement = maintenance.autovacuum(
                table,
                vacuum_scale_factor=rules.vacuum_scale_factor,
                analyze_scale_factor=rules.analyze_scale_factor,
                partitioned=stats.partitioned,
            )
            steps.append(_fix("autovacuum", table, reason, statement))
    return steps


def prewarm_fixes(facts: Facts) -> list[Fix]:
    """Load the vector indexes into shared_buffers when they fit there: after a restart, the first searches then
    find the graph in memory; when they are cached already, a pass over cached pages costs little."""
    if not facts.server.prewarm_available:
        return []
    valid = [i for i in facts.indexes if i.valid]
    if not valid or sum(i.size_bytes for i in valid) > facts.server.shared_buffers_bytes:
        return []
    steps = []
    if not facts.server.prewarm_installed:
        steps.append(_fix("prewarm", "pg_prewarm", "available, not installed", maintenance.create_prewarm()))
    reason = "load the graph into shared_buffers"
    return steps + [
        _fix("prewarm", i.name, reason, maintenance.prewarm(i.name, partitioned=i.partitioned)) for i in valid
    ]


async def _plan(conn: Conn, facts: Facts, settings: Settings) -> list[Fix]:
    rules = policy(settings)
    return (
        index_fixes(facts, rules)
        + await build_fixes(conn, facts, settings)
        + await ivfflat_fixes(conn, facts, rules, settings)
        + await partial_fixes(conn, facts, rules, settings)
        + table_fixes(facts, rules)
        + prewarm_fixes(facts)
    )


async def _apply(conn: Conn, steps: Sequence[Fix]) -> list[Action]:
    """Run each step; one that fails is reported and the others still run (a VACUUM needs no REINDEX to help)."""
    done: list[Action] = []
    for step in steps:
        started = time.perf_counter()
        try:
            for statement in (step.statement, *step.then):
                await maintenance.run(conn, statement)
        except DatabaseError as exc:
            seconds = time.perf_counter() - started
            done.append(replace(step.action, status="failed", seconds=seconds, error=str(exc)))
            continue
        done.append(replace(step.action, status="done", seconds=time.perf_counter() - started))
    return done


PARTIAL_KINDS = frozenset({"build_partial", "drop_partial"})


async def maintain(
    pool: Pool,
    settings: Settings,
    *,
    collection: str | None = None,
    apply: bool = False,
    only: frozenset[str] | None = None,
) -> MaintainReport:
    """The fixes the database needs now (for one collection's tables, or all; of the kinds ``only`` names, or all);
    run them when ``apply``."""
    async with (
        translate_errors("maintaining the vector tables"),
        maintenance.maintenance_connection(pool, memory=settings.index_build_memory) as conn,
    ):
        steps = await _plan(conn, await gather(conn, collection), settings)
        steps = [s for s in steps if only is None or s.action.kind in only]
        if not apply:
            return MaintainReport(False, tuple(s.action for s in steps))
        if not await maintenance.claim(conn):
            raise ConflictError(
                "another pgseek maintain --apply is running on this database; wait for it to end, then run "
                "pgseek doctor to see what is left"
            )
        return MaintainReport(True, tuple(await _apply(conn, steps)))


async def partial_indexes_after_ingest(pool: Pool, settings: Settings, collection: str) -> MaintainReport | None:
    """PGSEEK_PARTIAL_INDEXES=auto: after an ingest, build or drop the collection's partial indexes as ``maintain``
    would. None when another ``maintain --apply`` runs now (it does the same)."""
    try:
        return await maintain(pool, settings, collection=collection, apply=True, only=PARTIAL_KINDS)
    except ConflictError:
        return None
