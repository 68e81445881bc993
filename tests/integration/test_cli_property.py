"""Property: whatever arguments and environment the ``pgseek`` command is given, it never shows a traceback, exits
with a documented code, and an error is one line on stderr.

Each example runs the real command in a subprocess, not in-process through typer's CliRunner: the property is about
what a shell sees (the entry point's own error handling, the exit status, stderr), an environment variable may hold
bytes that are not UTF-8 (only a child process can be given those), and a command that hangs (a FIFO read as a file)
must show up as a failure (the subprocess' timeout) instead of blocking the test run.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from pgseek.cli import app
from pgseek.config import Settings

EXIT_CODES = {0, 1, 2, 130}
"""README: 0 done, 1 ingest finished with rejected documents, 2 an error (one line), 130 interrupted."""
TIMEOUT_S = 120
# No shrinking: each example is a process (a second or more), and shrinking one failure took minutes; the example as
# generated is reported, and the seed reproduces it.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of ``pgseek --help``, its groups' included (typer's own copy of click: duck-typed)."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = dict(_commands(typer.main.get_command(app)))
# serve with settings it accepts listens until stopped, and demo ingests a corpus (a minute): both are driven only
# with an environment their settings refuse (FAST_ENV below).
FAILS_FIRST = {("serve",), ("demo",)}
# What a file argument may be: each is either refused in one line or read (never waited on).
SPECIAL_FILES = ("missing.txt", "missing/dir/x.md", "no-access.txt", "fifo.txt", "folder.md", "/dev/null", "-")

# An argument is bytes: one that is not UTF-8 reaches Python as lone surrogates (os.fsencode turns them back).
not_utf8 = st.sampled_from(["a\udcffb", "caf\udce9", "\udc80"])
weird_text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=0, max_size=40),
    not_utf8,
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["nan", "inf", "-inf", "-0", "1e309", "0x10", "", " 3 ", "٣"]),
)
option_value = st.one_of(weird_text, numbers, st.sampled_from(["[/]", "[bold]x", "%s", "{}", "x" * 10_000]))
bad_urls = st.sampled_from(
    [
        "postgres://x:y@:notaport/db",
        "not a url",
        "not_a_url",
        "mysql://user@host/db",
        "postgresql://",
        "postgresql://u:p@127.0.0.1:1/none",
        "postgresql://[::1/x",
        "host=/nonexistent port=5432",
        "x" * 5000,
        "postgresql://h/d?sslmode=bogus",
    ]
)
setting_names = sorted(Settings.model_fields)


def _with_flag(flag: str) -> Callable[[str], list[str]]:
    return lambda value: [flag, value]


def _param_args(command: Any, path_value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """Arguments for ``command``: each of its options with a hostile value, its positionals hostile, shuffled a bit."""
    parts: list[st.SearchStrategy[list[str]]] = []
    for param in command.params:
        if param.param_type_name == "option":
            flag = param.opts[0]
            if param.is_flag:
                parts.append(st.sampled_from([[], [flag]]))
            else:
                parts.append(st.one_of(st.just([]), option_value.map(_with_flag(flag))))
        else:
            values = path_value if param.name in {"paths", "dataset"} else st.one_of(weird_text, path_value)
            parts.append(st.lists(values, min_size=0, max_size=3))
    extra = st.lists(st.one_of(weird_text, numbers, st.just("--bogus")), max_size=2)
    return st.tuples(*parts, extra).map(lambda chunks: [arg for chunk in chunks for arg in chunk])


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory, pgseek_home: Path) -> Path:
    """An empty working folder (a relative path never reaches the repository), the special files, a home of its own
    that shares the session's model cache (so that ``server stop`` can never stop the tests' server)."""
    root = tmp_path_factory.mktemp("cli-property")
    (root / "no-access.txt").write_text("secret")
    (root / "no-access.txt").chmod(0)
    os.mkfifo(root / "fifo.txt")
    (root / "folder.md").mkdir()
    (root / "a-file").write_text("not a folder")
    readonly = root / "read-only"
    readonly.mkdir()
    readonly.chmod(stat.S_IRUSR | stat.S_IXUSR)
    home = root / "home"
    home.mkdir()
    (pgseek_home / "models").mkdir(exist_ok=True)
    (home / "models").symlink_to(pgseek_home / "models")
    work = root / "cwd"
    work.mkdir()
    return root


@pytest.fixture(scope="module")
def roots(playground: Path, database_url: str) -> tuple[Path, str]:
    """The playground and the database, once the model's ONNX export exists: exporting takes a minute, which an
    example's timeout must not count."""
    env = {b"PGSEEK_HOME": str(playground / "home").encode(), b"PGSEEK_DATABASE_URL": database_url.encode()}
    warm = _run(playground, ["init"], env, timeout=600)
    assert warm.returncode == 0, warm.stderr.decode(errors="replace")
    return playground, database_url


def _environment(root: Path, database_url: str, *, broken: bool) -> st.SearchStrategy[dict[bytes, bytes]]:
    homes = st.sampled_from(
        [
            str(root / "home").encode(),
            str(root / "a-file").encode(),
            str(root / "a-file" / "under").encode(),
            str(root / "read-only" / "home").encode(),
            str(root / "home-\xff").encode() + b"\xff\xfe",  # not UTF-8
            b"/proc/1/nope",
        ]
    )
    urls = st.one_of(bad_urls, st.just(database_url)) if not broken else bad_urls
    one_setting = st.tuples(st.sampled_from(setting_names), option_value)
    settings_given = st.lists(one_setting, min_size=1 if broken else 0, max_size=3)
    return st.builds(
        lambda home, url, given: {
            b"PGSEEK_HOME": home,
            b"PGSEEK_DATABASE_URL": url.encode(),
            **{f"PGSEEK_{name.upper()}".encode(): os.fsencode(value) for name, value in given},
        },
        homes,
        urls,
        settings_given,
    )


def _run(
    root: Path, args: list[str], env: dict[bytes, bytes], *, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environb.items() if not k.startswith(b"PGSEEK_")}
    return subprocess.run(
        [sys.executable, "-m", "pgseek", *args],
        cwd=root / "cwd",
        env={**base, b"HF_HUB_OFFLINE": b"1", b"COLUMNS": b"80", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def _check(done: subprocess.CompletedProcess[bytes]) -> None:
    stderr = done.stderr.decode(errors="replace")
    stdout = done.stdout.decode(errors="replace")
    assert "Traceback" not in stderr + stdout, stderr
    assert done.returncode in EXIT_CODES, (done.returncode, stderr)
    lines = stderr.splitlines()
    if done.returncode == 2 and lines:
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    if done.returncode == 2 and not lines:
        assert stdout.startswith("Usage:"), stdout  # a group given no command prints its help (click's behaviour)
    if done.returncode == 1:
        assert all(line.startswith("failed ") for line in lines), stderr


def _examples(root: Path, database_url: str, *, broken: bool) -> st.SearchStrategy[Any]:
    paths = st.one_of(
        st.sampled_from(SPECIAL_FILES).map(lambda name: name if name in {"-", "/dev/null"} else str(root / name)),
        weird_text.map(lambda name: str(root / "nowhere" / name.replace("/", "_"))),
    )
    names = [name for name in COMMANDS if broken or name not in FAILS_FIRST]
    return st.sampled_from(names).flatmap(
        lambda name: st.tuples(
            st.just(list(name)), _param_args(COMMANDS[name], paths), _environment(root, database_url, broken=broken)
        )
    )


def test_a_query_that_is_not_utf8_is_one_line(roots: tuple[Path, str]) -> None:
    """Found by the property: such a query reached the tokenizer (TypeError, a traceback before run() caught it)."""
    root, url = roots
    home = str(root / "home").encode()
    for command in (["search", "a\udcffb", "--mode", "hybrid"], ["ask", "caf\udce9?"]):
        done = _run(root, command, {b"PGSEEK_HOME": home, b"PGSEEK_DATABASE_URL": url.encode()})
        _check(done)
        assert done.returncode == 2 and b"lone surrogate" in done.stderr, done.stderr


def test_commands_are_all_driven() -> None:
    assert {("search",), ("ingest",), ("serve",), ("keys", "create"), ("documents", "show")} <= set(COMMANDS)


def _drive(root: Path, url: str, *, broken: bool, examples: int) -> None:
    """Run ``examples`` generated commands and check each one's outcome."""

    @settings(
        max_examples=examples,
        deadline=None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(example=_examples(root, url, broken=broken))
    def check(example: tuple[list[str], list[str], dict[bytes, bytes]]) -> None:
        command, args, env = example
        note(f"pgseek {command + args!r} with {env!r}")
        _check(_run(root, [*command, *args], env))

    check()


@pytest.mark.slow
def test_any_arguments_and_environment_give_one_line_or_success(roots: tuple[Path, str]) -> None:
    root, url = roots
    _drive(root, url, broken=False, examples=60)


def test_a_broken_environment_is_one_line_for_every_command(roots: tuple[Path, str]) -> None:
    """The fast subset: settings the command refuses before it opens anything (a bad URL, a bad PGSEEK_* value)."""
    root, url = roots
    _drive(root, url, broken=True, examples=10)
