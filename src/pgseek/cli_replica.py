"""``pgseek server replica start | stop | list``: streaming replicas of the embedded server (docs/replicas.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pgseek.cli_common import JsonOpt, out, settings_from

if TYPE_CHECKING:
    from pgseek.db.replicas import EmbeddedReplica, EmbeddedReplicas

replica_app = typer.Typer(
    help="Streaming replicas of the embedded server on this machine (development and tests).", no_args_is_help=True
)


def _replicas() -> EmbeddedReplicas:
    from pgseek.db.connect import embedded_server  # psycopg: not for --help
    from pgseek.db.replicas import EmbeddedReplicas

    return EmbeddedReplicas(embedded_server(settings_from()))


@replica_app.command("start")
def replica_start(
    count: Annotated[int, typer.Option("--count", "-n", help="Replicas to run (numbered from 1).", min=1)] = 2,
    json_out: JsonOpt = False,
) -> None:
    """Start the embedded server and COUNT streaming replicas of it (made by pg_basebackup the first time)."""
    replicas = _replicas()
    _print(replicas, replicas.start(count), json_out)


@replica_app.command("stop")
def replica_stop() -> None:
    """Stop every embedded replica (their data stays for the next start; the primary keeps running)."""
    stopped = _replicas().stop()
    out.print(f"stopped {stopped} replica(s)" if stopped else "no replica running")


@replica_app.command("list")
def replica_list(json_out: JsonOpt = False) -> None:
    """Each embedded replica: running or not, its socket, and how far it is behind the primary."""
    replicas = _replicas()
    _print(replicas, replicas.members(), json_out)


def _print(replicas: EmbeddedReplicas, members: list[EmbeddedReplica], json_out: bool) -> None:
    from pgseek.db.replicas import measure_lag

    primary = replicas.primary.status().uri
    rows = []
    for replica in members:
        lag_bytes, lag_s = measure_lag(primary, replica) if primary and replica.running else (None, None)
        rows.append(
            {
                "replica": replica.number,
                "running": replica.running,
                "pid": replica.pid,
                "uri": replica.uri,
                "lag_bytes": lag_bytes,
                "lag_seconds": lag_s,
            }
        )
    if json_out:
        print(json.dumps({"primary": primary, "replicas": rows}))
        return
    if not rows:
        out.print("no embedded replica; start some with: pgseek server replica start --count 2")
        return
    table = Table("replica", "running", "uri", "lag bytes", "lag s")
    for row in rows:
        table.add_row(
            str(row["replica"]),
            "yes" if row["running"] else "no",
            str(row["uri"] or "-"),
            "-" if row["lag_bytes"] is None else str(row["lag_bytes"]),
            "-" if row["lag_seconds"] is None else f"{row['lag_seconds']:.2f}",
        )
    out.print(table)
