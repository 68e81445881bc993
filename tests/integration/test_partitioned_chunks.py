"""Keyword, hybrid, vector and filtered search (test_search_modes) again, on a database whose chunks table is
partitioned by tenant too (``pgseek init --chunk-partitions``, decision 0031), with partitioned collections."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.config import Settings
from pgseek.errors import ConflictError
from tests.integration.test_search_modes import *  # noqa: F403


@pytest.fixture(scope="module")
def settings(database_url: str, pgseek_home: Path) -> Settings:
    settings = Settings(home=pgseek_home, database_url=database_url, partitions=4)
    with Seek(settings) as seek:
        assert seek.partition_chunks(5) == 5
        assert seek.partition_chunks(5) == 5  # asked again: nothing to do
    return settings


def test_the_chunks_table_is_partitioned_with_what_hangs_on_it(settings: Settings, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        leaves = conn.execute("SELECT count(*) FROM pg_partition_tree('chunks') WHERE isleaf AND level = 1").fetchone()
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'chunks'::regclass AND NOT tgisinternal"
        ).fetchone()
        policy = conn.execute("SELECT count(*) FROM pg_policies WHERE tablename = 'chunks'").fetchone()
        granted = conn.execute("SELECT has_table_privilege('pgseek_app', 'chunks', 'SELECT, DELETE')").fetchone()
        referencing = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE confrelid = 'chunks'::regclass AND contype = 'f'"
            " AND conparentid = 0"
        ).fetchone()
    assert leaves == (5,) and triggers == (5,) and policy == (1,) and granted == (True,)
    assert referencing is not None and referencing[0] >= 1  # each embeddings table's key to its chunks


def test_a_database_with_chunks_cannot_be_partitioned_afterwards(
    settings: Settings, local_embedder: object, database_url: str, server_url: str
) -> None:
    name = "t_chunks_full"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    full = settings.model_copy(update={"database_url": psycopg.conninfo.make_conninfo(database_url, dbname=name)})
    with Seek(full, embedder=local_embedder) as seek:  # type: ignore[arg-type]
        seek.ingest_documents([Document("one", "A note.")], collection="full")
        with pytest.raises(ConflictError, match="before the first ingest"):
            seek.partition_chunks(4)
        assert seek.search("note", collection="full").hits  # the refusal changed nothing
