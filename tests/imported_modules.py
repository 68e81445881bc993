"""Run the ``pgseek`` command in a subprocess and see which modules it imported (for the startup-cost tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime")
"""What costs seconds to import; none of it may load before a command needs a model."""

# Runs `pgseek ARGS...` as `python -m pgseek` would, and writes every module loaded by then to the file named by the
# first argument, at interpreter exit (typer ends every command with SystemExit).
_PROBE = """
import atexit, runpy, sys
out = sys.argv[1]
def dump() -> None:
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
atexit.register(dump)
sys.argv = ["pgseek", *sys.argv[2:]]
runpy.run_module("pgseek", run_name="__main__", alter_sys=True)
"""


def run_pgseek(
    args: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The finished process, and the modules it had imported: their full names and their top-level packages'."""
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(listing), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    names = listing.read_text().split() if listing.exists() else []
    return done, {name.split(".")[0] for name in names} | set(names)
