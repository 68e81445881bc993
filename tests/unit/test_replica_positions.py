"""Commit positions and lag arithmetic of the read replicas (decision 0029), without a database."""

from __future__ import annotations

import pytest

from pgseek.config import Settings
from pgseek.db.read_router import check_lsn
from pgseek.db.replicas import lag_seconds
from pgseek.errors import QueryError


@pytest.mark.parametrize("lsn", ["0/0", "0/1A2B3C4", "16/B374D848", "FFFFFFFF/FFFFFFFF"])
def test_a_wal_position_is_accepted(lsn: str) -> None:
    assert check_lsn(lsn) == lsn


@pytest.mark.parametrize("lsn", ["", "yesterday", "0/", "/1", "1/2/3", "0/1A2B3C4; DROP TABLE x", "123456789/0"])
def test_anything_else_is_a_query_error_naming_min_lsn(lsn: str) -> None:
    with pytest.raises(QueryError) as caught:
        check_lsn(lsn)
    assert caught.value.field == "min_lsn"


def test_a_replica_that_replayed_everything_is_not_late_however_old_its_last_transaction() -> None:
    assert lag_seconds((0, 3600.0)) == (0, 0.0)


def test_a_replica_with_wal_to_replay_is_as_late_as_its_last_replayed_transaction() -> None:
    assert lag_seconds((8192, 2.5)) == (8192, 2.5)


def test_a_replica_that_replays_nothing_has_no_lag_to_report() -> None:
    assert lag_seconds((None, None)) == (None, None)


def test_read_urls_are_split_on_commas() -> None:
    settings = Settings(read_urls=" postgresql://a/db , ,postgresql://b/db")
    assert settings.read_url_list == ["postgresql://a/db", "postgresql://b/db"]
