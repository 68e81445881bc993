"""The tenant isolation tests (test_tenant_isolation) again, on collections whose embeddings are partitioned by
tenant (decision 0031): row-level security on the parent, no grant on a partition, plans that do not depend on
another tenant's volume."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgseek.config import Settings
from tests.integration.test_tenant_isolation import *  # noqa: F403


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    return Settings(home=pgseek_home, database_url=database_url, partitions=4)
