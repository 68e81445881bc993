"""Migrations, the pgvector check and the embedded server's lifecycle."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pgseek.db.connect import check_pgvector, prepare_database
from pgseek.db.migrate import available, migrate
from pgseek.errors import MigrationError, PgvectorMissingError
from tests.outage import own_server


def test_migrations_twice_change_nothing(database_url: str) -> None:
    asyncio.run(prepare_database(database_url))

    async def again() -> list[int]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await migrate(conn)

    assert asyncio.run(again()) == []
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM pgseek_migrations ORDER BY 1")]
        defaults = conn.execute(
            "SELECT (SELECT count(*) FROM tenants WHERE id = 'default'), "
            "(SELECT count(*) FROM collections WHERE name = 'default')"
        ).fetchone()
    assert versions == [m.version for m in available()]
    assert defaults == (1, 1)


def test_an_edited_migration_is_refused(database_url: str) -> None:
    asyncio.run(prepare_database(database_url))
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE pgseek_migrations SET checksum = 'edited' WHERE version = 1")

    async def again() -> list[int]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await migrate(conn)

    with pytest.raises(MigrationError, match="changed after it was applied"):
        asyncio.run(again())


def test_concurrent_migrations_apply_once(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS t_concurrent WITH (FORCE)")
        conn.execute("CREATE DATABASE t_concurrent")
    url = psycopg.conninfo.make_conninfo(server_url, dbname="t_concurrent")

    async def both() -> None:
        await asyncio.gather(*(prepare_database(url) for _ in range(4)))

    asyncio.run(both())
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM pgseek_migrations").fetchone()
    assert row == (len(available()),)


def test_a_server_without_pgvector_is_refused_with_install_advice() -> None:
    # The machine's own PostgreSQL (no pgvector) when there is one; skipped where there is none.
    url = os.environ.get("PGSEEK_TEST_PLAIN_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

    async def check() -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=3)
        except psycopg.OperationalError:
            pytest.skip(f"no plain PostgreSQL at {url}")
        async with conn:
            cur = await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if await cur.fetchone() is not None:
                pytest.skip("that server has pgvector")
            await check_pgvector(conn)

    with pytest.raises(PgvectorMissingError, match="apt install postgresql-<major>-pgvector"):
        asyncio.run(check())


START = """
import sys, psycopg
from pathlib import Path
from pgseek.db.server import EmbeddedServer
url = EmbeddedServer(Path(sys.argv[1]), shared_buffers="128MB", maintenance_work_mem="256MB").start()
with psycopg.connect(url) as conn:
    print(conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0])
"""


def test_two_processes_start_the_embedded_server_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", START, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # Both connected to one and the same server: the same postmaster start time.
    assert outputs[0][0] == outputs[1][0]
    status = subprocess.run(
        [sys.executable, "-m", "pgseek", "server", "status"],
        env={**os.environ, "PGSEEK_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "running" in status.stdout and "not running" not in status.stdout
    stop = subprocess.run(
        [sys.executable, "-m", "pgseek", "server", "stop"],
        env={**os.environ, "PGSEEK_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stop.stdout.strip() == "stopped", stop.stderr
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_a_start_waits_for_a_killed_postmaster_to_be_reaped(tmp_path: Path) -> None:
    """Right after kill -9 the postmaster is a zombie until its parent reaps it; a start in that window once returned
    the dead server's address without starting one. The zombie here is a child of this test, reaped on purpose."""
    with own_server(tmp_path) as server:
        pid_file = server.data_dir / "postmaster.pid"
        stale = pid_file.read_text().splitlines()
        server.stop()
        zombie = subprocess.Popen(["true"])
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
            time.sleep(0.01)
        pid_file.write_text("\n".join([str(zombie.pid), *stale[1:]]) + "\n")

        started: dict[str, str] = {}
        starting = threading.Thread(target=lambda: started.setdefault("url", server.start()))
        starting.start()
        starting.join(timeout=1.0)
        zombie.wait()  # the parent reaps it at last
        starting.join(timeout=120)

        assert server.status().pid not in (None, zombie.pid)
        with psycopg.connect(started["url"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
