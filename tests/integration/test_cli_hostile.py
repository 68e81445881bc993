"""The CLI given the hostile input the HTTP service refuses: one listed failure per bad JSONL line, one clean error
line for a bad option, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import pgseek


@pytest.fixture(scope="module")
def env(database_url: str, pgseek_home: Path) -> dict[str, str]:
    return {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}


def test_hostile_jsonl_lines_fail_alone(env: dict[str, str], tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "good1", "text": "A lighthouse warns ships of rocks with a rotating lamp."}),
        '{"id": "sur", "text": "broken \\ud800 text"}',
        "[" * 5000 + "]" * 5000,
        '{"id": "big", "text": "t", "metadata": {"n": ' + "9" * 5000 + "}}",
        '{"id": "..", "text": "a dot segment"}',
        json.dumps({"id": "good2", "text": "Sourdough bread rises slowly."}),
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines))
    result = pgseek(["ingest", str(corpus), "--collection", "hostile", "--json"], env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["documents_added"] == 2
    assert sorted(f["path"].rsplit(":", 1)[1] for f in report["failures"]) == ["2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-score", "nan"], "min_score must be a finite number"),
        (["--min-score", "inf"], "min_score must be a finite number"),
        (["--filter", "n>" + "9" * 5000], "too long"),
        (["--filter", "n>" + "9" * 30], "64 bits"),
        (["--filter", "k:in=" + ",".join(str(i) for i in range(1001))], "limit is 1000"),
        (["--where-json", "[" * 100_000], "nested too deep"),
        (["--where-json", '{"k": NaN}'], "NaN"),
    ],
)
def test_hostile_search_options_are_one_clean_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = pgseek(["search", "lighthouse", "-c", "hostile", *args], env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
