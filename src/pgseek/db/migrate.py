"""Versioned SQL migrations, applied in order under an advisory lock and recorded in ``pgseek_migrations``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

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
    return sorted(found, key=lambda m: m.version)


async def migrate(conn: psycopg.AsyncConnection[object]) -> list[int]:
    """Apply every pending migration; return the versions applied (empty when up to date).

    The advisory lock makes concurrent starts safe: the second waits, then finds nothing left to do.
    Each migration runs in its own transaction, so a failure leaves the schema at the last good version.
    """
    applied: list[int] = []
    await conn.set_autocommit(True)
    await conn.execute(queries.MIGRATION_LOCK)
    try:
        await conn.execute(queries.CREATE_MIGRATIONS_TABLE)
        cur = await conn.execute(queries.APPLIED_MIGRATIONS)
        done = {int(row[0]): str(row[1]) for row in await cur.fetchall()}  # type: ignore[index]
        for migration in available():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it was applied; "
                        "ship schema changes as a new migration file instead"
                    )
                continue
            await _apply(conn, migration)
            applied.append(migration.version)
    finally:
        await conn.execute(queries.MIGRATION_UNLOCK)
    return applied


async def _apply(conn: psycopg.AsyncConnection[object], migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql.encode())
            await conn.execute(queries.RECORD_MIGRATION, (migration.version, migration.name, migration.checksum))
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
