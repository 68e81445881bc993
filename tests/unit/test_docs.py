"""Every CLI command is in the README: a command users cannot find does not exist for them."""

from __future__ import annotations

from pathlib import Path

from pgseek.cli import app, keys_app, server_app
from pgseek.cli_jobs import jobs_app, sync_app
from pgseek.cli_manage import collections_app, documents_app
from pgseek.cli_models import models_app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _names(typer_app: object) -> list[str]:
    commands = typer_app.registered_commands  # type: ignore[attr-defined]
    return [c.name or c.callback.__name__.rstrip("_").replace("_", "-") for c in commands]


def test_every_command_is_documented() -> None:
    missing = [f"pgseek {name}" for name in _names(app) if f"`pgseek {name}" not in README]
    missing += [f"pgseek server {name}" for name in _names(server_app) if f"pgseek server {name}" not in README]
    missing += [f"pgseek keys {name}" for name in _names(keys_app) if f"pgseek keys {name}" not in README]
    for group, sub_app in (
        ("collections", collections_app),
        ("documents", documents_app),
        ("models", models_app),
        ("sync", sync_app),
        ("jobs", jobs_app),
    ):
        missing += [f"pgseek {group} {name}" for name in _names(sub_app) if f"pgseek {group} {name}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"
