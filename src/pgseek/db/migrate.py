"""Versioned SQL migrations, applied in order under an advisory lock and recorded in ``pgseek_migrations``."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgseek.db import queries
from pgseek.errors import MigrationError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped with this version of pgseek, in order."""
    found: list[Migration] = []
    for entry in resources.files("pgseek.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    # Two branches each adding "their" next number is the usual way this happens; shipping both would apply one.
    for before, after in itertools.pairwise(found):
        if before.version == after.version:
            raise MigrationError(f"two migrations share version {after.version:04d}: {before.name}, {after.name}")
    return found


async def migrate(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Apply every pending migration; return the versions applied (empty when up to date).

    All pending migrations run in one transaction under a transaction-level advisory lock: concurrent starts wait,
    then find nothing left to do, and a failure leaves the schema exactly as it was.
    """
    await conn.set_autocommit(False)
    try:
        async with conn.transaction():
            await conn.execute(queries.MIGRATION_LOCK)
            await conn.execute(queries.CREATE_MIGRATIONS_TABLE)
            done = await _applied(conn)
            return [m.version for m in available() if await _apply_pending(conn, m, done)]
    except psycopg.Error as exc:
        raise MigrationError(f"schema migration failed, nothing was changed: {exc}") from exc


async def _apply_pending(conn: psycopg.AsyncConnection[Any], migration: Migration, done: dict[int, str]) -> bool:
    if migration.version in done:
        if done[migration.version] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} was changed after it was applied; "
                "ship schema changes as a new migration file instead"
            )
        return False
    try:
        await conn.execute(migration.sql.encode())
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
    await conn.execute(queries.RECORD_MIGRATION, (migration.version, migration.name, migration.checksum))
    return True


async def pending(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """Versions shipped with this pgseek that the database has not applied (all of them on a fresh database)."""
    cur = await conn.execute(queries.MIGRATIONS_TABLE_EXISTS)
    row = await cur.fetchone()
    if row is None or not row[0]:
        return [m.version for m in available()]
    done = await _applied(conn)
    return [m.version for m in available() if m.version not in done]


async def _applied(conn: psycopg.AsyncConnection[Any]) -> dict[int, str]:
    """Applied versions with their checksums."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(queries.APPLIED_MIGRATIONS)
        return {int(row["version"]): str(row["checksum"]) for row in await cur.fetchall()}
