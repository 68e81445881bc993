"""What every ``pgseek`` command group shares: the consoles, the common options, and how a command opens the facade
and turns pgseek's errors into one line and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from pgseek.errors import DatabaseUnavailableError, PgseekError

if TYPE_CHECKING:  # imported where a command runs: `pgseek --help` must not pay for the facade (decision 0015)
    from pgseek.config import Settings
    from pgseek.seek import Seek

out = Console()
err = Console(stderr=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: 'default').")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant (default: 'default').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]

# An error that stopped the command: one line on stderr, then this code. Most specific first; the HTTP service maps
# the same families to statuses in pgseek.api.errors.STATUSES.
EXIT_CODES: tuple[tuple[type[PgseekError], int], ...] = (
    (DatabaseUnavailableError, 2),  # retry later: nothing half-done is lost
    (PgseekError, 2),  # input, setting, not found, model...: the message says what to change
)


def exit_code(exc: PgseekError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))


def fail(message: str, code: int = 2) -> NoReturn:
    # soft_wrap: one line even in a pipe, where rich would otherwise wrap at 80 columns.
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_from(**overrides: Any) -> Settings:
    """The settings from the environment, with the options given; a bad value is one clean line and exit code 2."""
    from pydantic import ValidationError

    from pgseek.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} (PGSEEK_{str(e['loc'][0]).upper()}): {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")


@contextmanager
def open_seek(**overrides: Any) -> Iterator[Seek]:
    """Open the facade; turn pgseek's own errors into one clean line and exit code 2."""
    from pgseek.seek import Seek

    settings = settings_from(**overrides)
    try:
        with Seek(settings) as seek:
            yield seek
    except PgseekError as exc:
        fail(str(exc), exit_code(exc))
