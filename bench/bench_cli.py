"""Wall-clock time of the ``pgseek`` command, as a user runs it: ``--help``, ``search`` and ``status``, with this
checkout's code ("after") and an earlier commit's ("before", default: where this branch left main).

    python bench/bench_cli.py              # 10 runs of each command with each code
    python bench/bench_cli.py --runs 5 --before main

Both run against one embedded database (started once, then kept running, as between a user's commands) holding
a few of git's release notes, and one ONNX export of the model. Each run is a fresh process; the first run of each
pair is a warm-up and is not counted. Targets (issue 12): ``search`` under 1.5 s, ``--help`` under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

from common import REPO, base_meta, bench_home, write_results

DOCS = Path("/usr/share/doc/git")
QUERY = "how do I undo a commit that was already pushed"
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "search": ["search", QUERY, "-k", "5"],
    "search hybrid": ["search", QUERY, "-k", "5", "--mode", "hybrid"],
    "status": ["status"],
}
TARGETS_S = {"--help": 0.5, "search": 1.5, "search hybrid": 1.5}


def _documents(limit: int) -> list[str]:
    notes = sorted((DOCS / "RelNotes").glob("*.txt"))[-limit:] if (DOCS / "RelNotes").is_dir() else []
    found = [p for p in [DOCS / "README.md", *notes] if p.is_file()]
    if not found:
        sys.exit(f"no documents to ingest under {DOCS} (install git's documentation, or edit DOCS)")
    return [str(p) for p in found]


@contextmanager
def source_at(ref: str) -> Iterator[Path]:
    """The ``src`` folder of commit ``ref``, unpacked into a temporary directory."""
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=REPO, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="pgseek-before-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp) / "src"


def _pgseek(src: Path, home: Path, args: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGSEEK_")}
    env.update(PGSEEK_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(src))
    begun = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pgseek", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - begun
    if done.returncode != 0:
        sys.exit(f"pgseek {' '.join(args)} failed ({src}):\n{done.stderr[-2000:]}")
    return elapsed


def _row(command: str, code: str, seconds: list[float]) -> dict[str, Any]:
    target = TARGETS_S.get(command)
    median = statistics.median(seconds)
    return {
        "command": command,
        "code": code,
        "runs": len(seconds),
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "target_s": target if target is not None else "-",
        "met": ("yes" if median < target else "no") if target is not None and code == "after" else "-",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="counted runs per command and code (at least 5)")
    parser.add_argument("--before", default=None, help="git ref of the 'before' code (default: merge-base with main)")
    parser.add_argument("--docs", type=int, default=40, help="release notes to ingest")
    args = parser.parse_args(argv)
    runs = max(5, args.runs)
    before = (
        args.before
        or subprocess.run(
            ["git", "merge-base", "HEAD", "main"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    after_src = REPO / "src"
    with bench_home() as home, source_at(before) as before_src:
        ingest = _pgseek(after_src, home, ["ingest", *_documents(args.docs)])  # also exports the model to ONNX
        codes = {"before": before_src, "after": after_src}
        times: dict[tuple[str, str], list[float]] = {(c, k): [] for c in COMMANDS for k in codes}
        load_before = os.getloadavg()
        for command, command_args in COMMANDS.items():
            for src in codes.values():
                _pgseek(src, home, command_args)  # warm-up: the page cache, the first connection
            for _ in range(runs):  # interleaved, so that load from elsewhere falls on both alike
                for code, src in codes.items():
                    times[(command, code)].append(_pgseek(src, home, command_args))
        meta = base_meta()
        # The machine is shared: its load average (1, 5, 15 min) before and after says how far to trust the figures.
        meta["load_average"] = {"before": load_before, "after": os.getloadavg()}
        meta.update(before=before, ingest_s=ingest, query=QUERY, timer="subprocess, time.perf_counter")
        meta["onnx"] = [json.loads(p.read_text()) for p in (home / "models").rglob("meta.json")]
    rows = [_row(c, k, times[(c, k)]) for c in COMMANDS for k in codes]
    labels = list(COMMANDS)
    write_results(
        "cli",
        rows,
        meta,
        plot={
            "labels": labels,
            "values": {k: [statistics.median(times[(c, k)]) for c in labels] for k in codes},
            "title": f"pgseek command wall time, median of {runs} runs (before: {before[:8]})",
            "ylabel": "seconds",
            "target": TARGETS_S["search"],
            "target_label": "search target (1.5 s)",
        },
    )


if __name__ == "__main__":
    main()
