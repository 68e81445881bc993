"""Keyword, hybrid, vector and filtered search (test_search_modes) again, on a collection whose embeddings are
partitioned by tenant (decision 0031): the same tests, the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgseek.config import Settings
from tests.integration.test_search_modes import *  # noqa: F403


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    return Settings(home=pgseek_home, database_url=database_url, partitions=4)
