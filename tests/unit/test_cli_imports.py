"""``pgseek --help`` and the parsing of commands load no model, database driver or web framework."""

from __future__ import annotations

from pathlib import Path

from tests.imported_modules import HEAVY, run_pgseek

# Beyond the models: what only some commands need (numpy: vectors; psycopg: the database; fastapi: serve; pypdf).
NOT_FOR_HELP = (*HEAVY, "numpy", "psycopg", "fastapi", "uvicorn", "pypdf", "matplotlib", "pydantic_settings")


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    done, modules = run_pgseek(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "search" in done.stdout
    assert modules, "the probe wrote no module list"
    assert not modules & set(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))


def test_command_help_imports_nothing_heavy(tmp_path: Path) -> None:
    done, modules = run_pgseek(["search", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--mode" in done.stdout
    assert not modules & set(NOT_FOR_HELP), sorted(modules & set(NOT_FOR_HELP))


def test_public_api_still_loads_on_use(tmp_path: Path) -> None:
    import pgseek

    assert pgseek.Seek.__name__ == "Seek"
    assert pgseek.SearchOptions.__module__ == "pgseek.search.engine"
