"""A synced application table (issue 14 part 3): rows inserted, updated (text), updated (metadata only), deleted,
re-keyed and truncated in the application's own table reach search, with the right embedding counts. Real
PostgreSQL, the real model."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from pgseek import Seek
from pgseek.config import Settings
from pgseek.errors import ConflictError, InputError, NotFoundError
from tests.conftest import CountingEmbedder

ROWS = [
    (1, "Aqueducts", "Roman aqueducts carried water across valleys on stone arches.", "rome", "acme"),
    (2, "Bees", "Honeybees tell their hive where flowers are with a waggle dance.", "now", "acme"),
    (3, "Glaciers", "Glaciers carve U-shaped valleys as they grind rock beneath the ice.", "ice", "globex"),
]


@pytest.fixture()
def app_db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The application's table, in pgseek's database, changed by the application's own connection."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS notes")
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, title text, body text, era text, owner text)")
        conn.cursor().executemany("INSERT INTO notes VALUES (%s, %s, %s, %s, %s)", ROWS)
        yield conn


@pytest.fixture()
def sync_seek(settings: Settings, embedder: CountingEmbedder) -> Iterator[Seek]:
    fast = settings.model_copy(update={"job_backoff_s": 0.0, "worker_poll_s": 0.2})
    with Seek(fast, embedder=embedder) as s:
        yield s


def _documents(seek: Seek, collection: str, tenant: str = "default") -> dict[str, str]:
    page = seek.documents(collection, tenant=tenant)
    ids = [d.external_id for d in page.documents]
    return {i: seek.document(i, collection=collection, tenant=tenant).text for i in ids}


def test_row_changes_reach_search(
    app_db: psycopg.Connection[tuple[object, ...]], sync_seek: Seek, embedder: CountingEmbedder
) -> None:
    source, queued = sync_seek.jobs.sync_add(
        "notes",
        id_column="id",
        text_column="body",
        title_column="title",
        metadata_columns=["era"],
        collection="s_notes",
    )
    assert queued == 3 and [s.table_name for s in sync_seek.jobs.sync_list()] == ["notes"]
    sync_seek.jobs.work(drain=True)
    assert set(_documents(sync_seek, "s_notes")) == {"1", "2", "3"}
    assert sync_seek.document("1", collection="s_notes").metadata == {"era": "rome"}

    embedded = embedder.texts_embedded
    app_db.execute("INSERT INTO notes VALUES (4, 'Lighthouses', 'Lighthouses burned whale oil before kerosene.', 'x')")
    sync_seek.jobs.work(drain=True)
    assert embedder.texts_embedded == embedded + 1
    assert sync_seek.search("whale oil lamps", collection="s_notes", k=1).hits[0].document_id == "4"

    # Text changed: one embed, however many updates came before the worker ran.
    embedded = embedder.texts_embedded
    for n in range(3):
        app_db.execute("UPDATE notes SET body = %s WHERE id = 2", (f"Honeybees dance to point at flowers, take {n}.",))
    sync_seek.jobs.work(drain=True)
    assert embedder.texts_embedded == embedded + 1
    assert _documents(sync_seek, "s_notes")["2"] == "Honeybees dance to point at flowers, take 2."

    # Metadata only: nothing embedded, the metadata updated.
    embedded = embedder.texts_embedded
    app_db.execute("UPDATE notes SET era = 'empire' WHERE id = 1")
    sync_seek.jobs.work(drain=True)
    assert embedder.texts_embedded == embedded
    assert sync_seek.document("1", collection="s_notes").metadata == {"era": "empire"}

    # A column that is not synced: no job at all.
    app_db.execute("UPDATE notes SET owner = 'someone' WHERE id = 1")
    assert sync_seek.jobs.list(state="pending", collection="s_notes") == []

    # Deleted, and re-keyed (a delete plus an insert).
    app_db.execute("DELETE FROM notes WHERE id = 3")
    app_db.execute("UPDATE notes SET id = 40 WHERE id = 4")
    sync_seek.jobs.work(drain=True)
    assert set(_documents(sync_seek, "s_notes")) == {"1", "2", "40"}

    app_db.execute("TRUNCATE notes")
    sync_seek.jobs.work(drain=True)
    assert _documents(sync_seek, "s_notes") == {}

    assert [s.id for s in sync_seek.jobs.sync_remove("notes")] == [source.id]
    app_db.execute("INSERT INTO notes VALUES (5, 't', 'After the sync was removed.', 'x')")
    assert sync_seek.jobs.list(state="pending", collection="s_notes") == []


def test_a_tenant_column_decides_each_rows_tenant(
    app_db: psycopg.Connection[tuple[object, ...]], sync_seek: Seek
) -> None:
    sync_seek.jobs.sync_add("notes", id_column="id", text_column="body", tenant_column="owner", collection="s_owned")
    sync_seek.jobs.work(drain=True)
    assert set(_documents(sync_seek, "s_owned", "acme")) == {"1", "2"}
    assert set(_documents(sync_seek, "s_owned", "globex")) == {"3"}
    # A row handed to another tenant leaves the first one's collection.
    app_db.execute("UPDATE notes SET owner = 'globex' WHERE id = 2")
    sync_seek.jobs.work(drain=True)
    assert set(_documents(sync_seek, "s_owned", "acme")) == {"1"}
    assert set(_documents(sync_seek, "s_owned", "globex")) == {"2", "3"}
    sync_seek.jobs.sync_remove("notes", collection="s_owned")


def test_bad_sync_requests_are_refused(app_db: psycopg.Connection[tuple[object, ...]], sync_seek: Seek) -> None:
    with pytest.raises(InputError, match="no table"):
        sync_seek.jobs.sync_add("missing_table", id_column="id", text_column="body", collection="s_bad")
    with pytest.raises(InputError, match="no column 'content'"):
        sync_seek.jobs.sync_add("notes", id_column="id", text_column="content", collection="s_bad")
    sync_seek.jobs.sync_add("notes", id_column="id", text_column="body", collection="s_bad")
    with pytest.raises(ConflictError):
        sync_seek.jobs.sync_add("notes", id_column="id", text_column="body", collection="s_bad")
    sync_seek.jobs.sync_remove("notes")
    with pytest.raises(NotFoundError):
        sync_seek.jobs.sync_remove("notes")
