"""``pgseek models`` on the real database and model. A collection moves from 64-token to 32-token chunks: add --wait,
compare on a golden set, activate, roll back, retire; a background add is followed with status; a stopped backfill
is resumed with ``pgseek models backfill``. Commands that succeed run in-process (typer's CliRunner: no interpreter
and model start per command); errors and the background backfill run as a user runs them, in subprocesses, where
the entry point's one-line error handling and the detached process are real."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pgseek.cli import app
from pgseek.cli_common import run
from pgseek.config import Settings
from pgseek.seek import Seek
from tests.integration.test_cli import env, pgseek
from tests.tides import QUERIES, SUBJECTS

__all__ = ["env"]


def _ingest(settings: Settings, embedder: Any, folder: Path, collection: str) -> None:
    """The subjects as Markdown files, ingested with 64-token chunks (their ids: their absolute paths). Through the
    library with the session's loaded model: ``pgseek ingest`` has tests of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    for subject, sentence in SUBJECTS.items():
        (folder / f"{subject}.md").write_text(f"# {subject.title()}\n\n{' '.join([sentence] * 4)}\n")
    with Seek(settings.model_copy(update={"chunk_tokens": 64, "chunk_overlap": 8}), embedder=embedder) as seek:
        assert seek.ingest([str(folder)], collection=collection).documents_added == len(SUBJECTS)


def _golden(folder: Path) -> Path:
    path = folder / "golden.jsonl"
    lines = [json.dumps({"query": q, "relevant": [str(folder / f"{doc}.md")]}) for q, doc in QUERIES.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(args: list[str], env: dict[str, str]) -> str:
    """The command in this process; its standard output."""
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(args: list[str], env: dict[str, str]) -> Any:
    return json.loads(_run([*args, "--json"], env))


class Fails:
    """A command run in this process through the entry point's own error handling (``cli_common.run``)."""

    def __init__(self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def __call__(self, args: list[str], *words: str) -> None:
        """The command fails with exit code 2 and one line on stderr naming ``words``."""
        self._capsys.readouterr()
        self._monkeypatch.setattr(sys, "argv", ["pgseek", *args])
        with pytest.raises(SystemExit) as stopped:
            run(app)
        stderr = self._capsys.readouterr().err
        assert stopped.value.code == 2, stderr
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
        for word in words:
            assert word in stderr, stderr


def test_a_chunking_change_from_add_to_retire(
    env: dict[str, str],
    settings: Settings,
    local_embedder: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fails = Fails(env, monkeypatch, capsys)
    _ingest(settings, local_embedder, tmp_path / "tides", "tides")
    (first,) = _json(["models", "list", "-c", "tides"], env)
    assert (first["state"], first["chunk_tokens"], first["documents_done"]) == ("active", 64, len(SUBJECTS))

    added = _json(["models", "add", "-c", "tides", "--chunk-tokens", "32", "--chunk-overlap", "4", "--wait"], env)
    candidate = added["version"]
    assert (candidate["state"], candidate["chunk_tokens"], candidate["documents_done"]) == ("candidate", 32, 12)
    assert candidate["index_ready"] and candidate["backfilled_at"] and candidate["chunks"] > first["chunks"]
    assert added["backfill"]["documents_written"] == len(SUBJECTS)

    fails(["models", "activate", "-c", "tides"], "compare")
    compared = _run(["models", "compare", str(_golden(tmp_path / "tides")), "-c", "tides", "--sample", "5"], env)
    for row in ("nDCG@10", "Recall@100", "p50 ms", "p99 ms", "top-10 overlap", f"candidate v{candidate['id']}"):
        assert row in compared, compared
    assert "verdict: candidate" in compared
    status = _json(["models", "status", "-c", "tides"], env)
    assert status["id"] == candidate["id"] and status["comparison"]["queries"] == len(QUERIES)

    force = ["--force"] if status["comparison"]["better"] is False else []
    activated = _json(["models", "activate", "-c", "tides", *force], env)
    assert (activated["id"], activated["state"]) == (candidate["id"], "active")
    fails(["models", "retire", "-c", "tides"], "--yes")

    rolled = _json(["models", "rollback", "-c", "tides"], env)
    assert (rolled["id"], rolled["state"]) == (first["id"], "active")
    retired = _json(["models", "retire", "-c", "tides", "--yes"], env)
    assert (retired["id"], retired["state"]) == (candidate["id"], "retired")
    states = {v["id"]: v["state"] for v in _json(["models", "list", "-c", "tides"], env)}
    assert states == {first["id"]: "active", candidate["id"]: "retired"}
    assert "retired" in _run(["models", "list", "-c", "tides"], env)

    fails(["models", "rollback", "-c", "tides"], "no previous version")
    fails(["models", "status", "-c", "tides", "--version", "999999"], "999999")
    fails(["models", "list", "-c", "no-such-collection"], "no-such-collection")
    fails(["models", "add", "-c", "tides", "--chunk-tokens", "8"], "chunk_tokens")


def test_a_background_backfill_is_followed_and_a_stopped_one_resumed(
    env: dict[str, str], settings: Settings, local_embedder: Any, tmp_path: Path
) -> None:
    _ingest(settings, local_embedder, tmp_path / "harbour", "harbour")
    started = pgseek(["models", "add", "-c", "harbour", "--chunk-tokens", "32", "--chunk-overlap", "4"], env)
    assert started.returncode == 0, started.stderr
    assert "pid" in started.stdout and "pgseek models status" in started.stdout
    version = int(started.stdout.split("added version ")[1].split()[0])
    log = Path(env["PGSEEK_HOME"]) / "logs" / f"backfill-{version}.log"
    assert str(log) in started.stdout.replace("\n", "")
    deadline = time.monotonic() + 240
    while not (status := _json(["models", "status", "-c", "harbour"], env))["backfilled_at"]:
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert (status["id"], status["documents_done"], status["index_ready"]) == (version, len(SUBJECTS), True)
    while "backfilled" not in log.read_text():  # the process ends after marking the version backfilled
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    retired = _json(["models", "retire", "-c", "harbour", "--version", str(version), "--yes"], env)
    assert retired["state"] == "retired"

    # A candidate whose backfill stopped (here: never started, as after a kill -9) says how to resume it.
    with Seek(settings, embedder=local_embedder) as seek:
        stopped = seek.models.add("harbour", chunk_tokens=48, chunk_overlap=4)
    shown = " ".join(_run(["models", "status", "-c", "harbour"], env).split())
    resume = f"pgseek models backfill --collection harbour --version {stopped.id}"
    assert f"stopped before its end; resume it with: {resume}" in shown, shown
    resumed = _json(["models", "backfill", "-c", "harbour"], env)
    assert resumed["backfill"]["version"] == stopped.id
    assert resumed["backfill"]["documents_written"] == len(SUBJECTS)
    assert not _json(["models", "status", "-c", "harbour"], env)["backfill_stopped"]
