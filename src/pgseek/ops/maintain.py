"""``pgseek maintain``: the fixes for what the doctor finds, each safe to run while pgseek serves. A dry run lists
them; ``apply`` runs them one by one on a connection of its own (pgseek.db.maintenance), in this order: rebuild
invalid or bloated indexes (REINDEX INDEX CONCURRENTLY before VACUUM: vacuuming a bloated HNSW graph is what takes
hours, pgvector#450), build missing ones, VACUUM (ANALYZE), autovacuum scale factors, pg_prewarm."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from pgseek.config import Settings
from pgseek.db import maintenance
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.maintenance import Statement
from pgseek.db.scope import Conn
from pgseek.errors import ConflictError, DatabaseError
from pgseek.ops.checks import MIN_DEAD_ROWS, Facts, Policy, autovacuum_of
from pgseek.ops.doctor import gather, policy

Status = Literal["planned", "done", "failed"]
# What a killed REINDEX CONCURRENTLY leaves behind: the half-built copy (_ccnew) or the old one (_ccold). Dropped,
# not rebuilt: the index they copy is still there.
_LEFTOVER = re.compile(r"_cc(new|old)\d*$")


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    """reindex, drop_index, build_index, vacuum, autovacuum, prewarm"""
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


def _fix(kind: str, subject: str, reason: str, statement: Statement) -> Fix:
    return Fix(Action(kind, subject, reason, statement.text), statement)


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


async def build_fixes(conn: Conn, facts: Facts, settings: Settings) -> list[Fix]:
    steps: list[Fix] = []
    for used in facts.vector_tables():
        if facts.serving_index(used.table, used.distance) is not None or facts.rows(used.table) == 0:
            continue
        if any(i.table == used.table and i.method == "hnsw" and not i.valid for i in facts.indexes):
            continue  # rebuilt by its own REINDEX step, or being built
        statement = await maintenance.build_hnsw(
            conn, used.table, used.distance, m=settings.hnsw_m, ef_construction=settings.hnsw_ef_construction
        )
        steps.append(_fix("build_index", used.table, f"no valid HNSW index for {used.distance}", statement))
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
                table, vacuum_scale_factor=rules.vacuum_scale_factor, analyze_scale_factor=rules.analyze_scale_factor
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
    return steps + [_fix("prewarm", i.name, reason, maintenance.prewarm(i.name)) for i in valid]


async def _plan(conn: Conn, facts: Facts, settings: Settings) -> list[Fix]:
    rules = policy(settings)
    return (
        index_fixes(facts, rules)
        + await build_fixes(conn, facts, settings)
        + table_fixes(facts, rules)
        + prewarm_fixes(facts)
    )


async def _apply(conn: Conn, steps: Sequence[Fix]) -> list[Action]:
    """Run each step; one that fails is reported and the others still run (a VACUUM needs no REINDEX to help)."""
    done: list[Action] = []
    for step in steps:
        started = time.perf_counter()
        try:
            await maintenance.run(conn, step.statement)
        except DatabaseError as exc:
            seconds = time.perf_counter() - started
            done.append(replace(step.action, status="failed", seconds=seconds, error=str(exc)))
            continue
        done.append(replace(step.action, status="done", seconds=time.perf_counter() - started))
    return done


async def maintain(
    pool: Pool, settings: Settings, *, collection: str | None = None, apply: bool = False
) -> MaintainReport:
    """The fixes the database needs now (for one collection's tables, or all); run them when ``apply``."""
    async with (
        translate_errors("maintaining the vector tables"),
        maintenance.maintenance_connection(pool, memory=settings.index_build_memory) as conn,
    ):
        steps = await _plan(conn, await gather(conn, collection), settings)
        if not apply:
            return MaintainReport(False, tuple(s.action for s in steps))
        if not await maintenance.claim(conn):
            raise ConflictError(
                "another pgseek maintain --apply is running on this database; wait for it to end, then run "
                "pgseek doctor to see what is left"
            )
        return MaintainReport(True, tuple(await _apply(conn, steps)))
