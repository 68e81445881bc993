"""What every ``pgseek`` command group shares: the consoles, the common options, and how a command opens the facade
and turns pgseek's errors into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from pgseek.errors import DatabaseUnavailableError, PgseekError

if TYPE_CHECKING:  # imported where a command runs: `pgseek --help` must not pay for the facade (decision 0015)
    from pydantic import ValidationError

    from pgseek.config import Settings
    from pgseek.seek import Seek

# markup=False: what is printed comes from users (queries, ids, paths, error messages), and "[/]" in it would be
# taken for a style tag (an exception) or "[b]" swallowed. Styles are given as Text or style= instead.
out = Console(markup=False)
err = Console(stderr=True, markup=False)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: 'default').")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant (default: 'default').")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]

# An error that stopped the command: one line on stderr, then this code. Most specific first; the HTTP service maps
# the same families to statuses in pgseek.api.errors.STATUSES.
EXIT_CODES: tuple[tuple[type[PgseekError], int], ...] = (
    (DatabaseUnavailableError, 2),  # retry later: nothing half-done is lost
    (PgseekError, 2),  # input, setting, not found, model...: the message says what to change
)
EXIT_USAGE = 2
"""A bad option or argument (click's usage errors), an unusable file or folder (OSError): one line too."""
EXIT_BUG = 70
"""An exception pgseek did not expect (sysexits' EX_SOFTWARE): a bug. PGSEEK_DEBUG=1 shows its traceback."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT), as a shell reports a command it interrupted: 128 + 2."""


def exit_code(exc: PgseekError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))


def one_line(message: str) -> str:
    """``message`` on one line: line breaks (a server log's tail, a validation report) become spaces."""
    return " ".join(message.split())


def say_error(message: str) -> None:
    # soft_wrap: one line even in a pipe, where rich would otherwise wrap at 80 columns.
    err.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    say_error(message)
    raise typer.Exit(code)


def run(app: typer.Typer) -> NoReturn:
    """Run the command line: the one place where whatever stopped a command becomes one line on stderr and an exit
    code (README, "Exit codes"). Commands raise; they do not print their own errors."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors (bad option, missing argument, value out of range)
        code = _usage_error(exc)
    except PgseekError as exc:
        say_error(str(exc))
        code = exit_code(exc)
    except OSError as exc:  # a file, a folder or PGSEEK_HOME that cannot be used: the environment, not pgseek
        say_error(describe_os_error(exc))
        code = EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", highlight=False)
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("PGSEEK_DEBUG"):
            raise
        say_error(
            f"internal error, a bug in pgseek ({type(exc).__name__}: {exc}); run again with PGSEEK_DEBUG=1 to see "
            "where, and report it"
        )
        code = EXIT_BUG
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: typer.TyperException) -> int:
    code = int(getattr(exc, "exit_code", EXIT_USAGE))
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group given no command: its help is already on stdout
        return code
    ctx = getattr(exc, "ctx", None)
    hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    say_error(f"{exc.format_message()}{hint}")
    return code


def describe_os_error(exc: OSError) -> str:
    where = f": {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
    return f"{exc.strerror or type(exc).__name__}{where}; check that this path exists and that you may use it"


def settings_from(**overrides: Any) -> Settings:
    """The settings from the environment, with the options given; a bad value is one clean line and exit code 2."""
    from pydantic import ValidationError

    from pgseek.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fail(f"invalid configuration: {describe_settings_error(exc)}")


def describe_settings_error(exc: ValidationError) -> str:
    """Each bad setting by its variable, what is wrong with it and what to do; never its value (it may be a key)."""
    problems = []
    for e in exc.errors():
        name = str(e["loc"][0]) if e["loc"] else "settings"
        problems.append(f"PGSEEK_{name.upper()} ({name}): {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems) + ": fix the value, or unset the variable for its default (README, Settings)"


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
