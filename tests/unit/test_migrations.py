"""Shipped migrations are numbered 1..n: no gap, no number twice (parallel branches each take "the next")."""

from pgseek.db.migrate import available


def test_versions_run_one_to_n() -> None:
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))
