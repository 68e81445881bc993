"""``pgseek partitions list | move``: a partitioned collection's partitions, and a tenant moved to its own
(docs/partitions.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from pgseek.cli_common import JsonOpt, open_seek, out

partitions_app = typer.Typer(
    help="Collections partitioned by tenant (created with --partitions N): list, move a tenant.", no_args_is_help=True
)
CollectionArg = Annotated[str, typer.Option("--collection", "-c", help="The partitioned collection.")]


@partitions_app.command("list")
def partitions_list(collection: CollectionArg, json_out: JsonOpt = False) -> None:
    """Each partition of the collection's vectors: a tenant's own, or a hash bucket of the others; rows, bytes."""
    with open_seek() as seek:
        report = seek.partitions(collection)
    if json_out:
        print(json.dumps(report.to_json()))
        return
    table = Table(title=f"{report.collection}: {report.table}, {report.buckets} hash bucket(s) for the other tenants")
    for column in ("partition", "holds", "rows", "table MB", "index MB"):
        table.add_column(column, justify="right" if column.endswith(("rows", "MB")) else "left")
    for p in report.partitions:
        holds = f"tenant {p.tenant}" if p.tenant is not None else p.bound.removeprefix("FOR VALUES WITH ")
        table.add_row(p.name, holds, f"{p.rows:,}", f"{p.table_bytes / 2**20:.1f}", f"{p.index_bytes / 2**20:.1f}")
    out.print(table)


@partitions_app.command("move")
def partitions_move(
    tenant: Annotated[str, typer.Argument(help="The tenant to give a partition of its own.")],
    collection: CollectionArg,
    json_out: JsonOpt = False,
) -> None:
    """Move TENANT's vectors out of the shared hash buckets into a partition of its own, with its own HNSW index.
    Writes to the collection wait until it is done; searches go on but for the final attach."""
    with open_seek() as seek:
        report = seek.move_tenant_partition(collection, tenant)
    if json_out:
        print(json.dumps(report.to_json()))
        return
    out.print(
        f"moved {report.rows_moved:,} vector(s) of tenant {report.tenant!r} to {', '.join(report.tables)} "
        f"in {report.seconds:.1f} s",
        highlight=False,
    )
