"""A real PgBouncer in transaction mode on a free port, in front of embedded PostgreSQL databases (run as the owner
of their socket directories: PgBouncer refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict


def binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "pgbouncer is not installed: these tests need a real PgBouncer "
            "(Debian/Ubuntu: apt-get install -y pgbouncer; .ci/run installs it)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_port(socket_dir: str) -> str:
    sockets = [p for p in Path(socket_dir).glob(".s.PGSQL.*") if p.suffix != ".lock"]
    assert sockets, f"no PostgreSQL socket in {socket_dir}"
    return sockets[0].name.rsplit(".", 1)[-1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"pgbouncer exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"pgbouncer did not listen on 127.0.0.1:{port} within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def pgbouncer(targets: Mapping[str, str], *, pool_size: int) -> Iterator[dict[str, str]]:
    """PgBouncer serving each ``name: conninfo`` of ``targets`` (a Unix-socket conninfo of an embedded server) as the
    database ``name``; yields ``name: url`` through PgBouncer."""
    owners = {os.stat(str(conninfo_to_dict(url)["host"])).st_uid for url in targets.values()}
    assert len(owners) == 1, "one PgBouncer runs as one user: the targets' socket directories need one owner"
    owner = pwd.getpwuid(owners.pop())
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="pgseek-pgbouncer-"))
    (tmp / "userlist.txt").write_text('"postgres" ""\n')
    lines = []
    for name, url in targets.items():
        params = conninfo_to_dict(url)
        socket_dir = str(params["host"])
        lines.append(
            f"{name} = host={socket_dir} port={server_port(socket_dir)} dbname={params['dbname']} user=postgres\n"
        )
    (tmp / "pgbouncer.ini").write_text(
        "[databases]\n" + "".join(lines) + f"[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        f"unix_socket_dir =\n"
        f"auth_type = trust\n"
        f"auth_file = {tmp / 'userlist.txt'}\n"
        f"pool_mode = transaction\n"
        f"max_client_conn = 100\n"
        f"default_pool_size = {pool_size}\n"
        f"logfile = {tmp / 'pgbouncer.log'}\n"
        f"pidfile = {tmp / 'pgbouncer.pid'}\n"
        f"ignore_startup_parameters = extra_float_digits,options\n"
    )
    command = [binary(), str(tmp / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        for path in (tmp, *tmp.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command = ["runuser", "-u", owner.pw_name, "--", *command]
    output = tmp / "pgbouncer.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_port(port, proc, output)
        yield {name: f"postgresql://postgres@127.0.0.1:{port}/{name}" for name in targets}
    finally:
        pid_file = tmp / "pgbouncer.pid"
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
