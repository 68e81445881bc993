from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_prints_three_sensible_result_lists(database_url: str, pgseek_home: Path) -> None:
    env = {**os.environ, "PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home)}
    result = subprocess.run(
        [sys.executable, "-m", "pgseek", "demo"], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("3 vector hits") == 3
    assert "try" in result.stdout and "formatstrings" in result.stdout
    answer = result.stdout.split("ask:", 1)[1]
    assert re.search(r"\[\d+\]", answer) and "Sources:" in answer  # a cited answer, not a refusal
