"""Compiled filters against a real PostgreSQL: each operator returns exactly the documents it should."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from pgseek.db.connect import prepare_database
from pgseek.db.filters import compile_filter
from pgseek.filters import Condition, SearchFilter, build_filter

INJECTION = "x'); DROP TABLE documents; --"
DOCUMENTS = {
    "a": (
        {"year": 2019, "lang": "en", "tags": ["a"], "author": {"name": "Ada"}, "published": "2021-05-01"},
        datetime(2024, 1, 10, tzinfo=UTC),
        datetime(2024, 1, 10, tzinfo=UTC),
    ),
    "b": (
        {"year": 2021, "lang": "fr", "tags": ["b", "c"], "author": {"name": "Blaise"}, "score": 4.5,
         "published": "2022-11-30T12:00:00Z"},
        datetime(2024, 2, 10, 12, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC),
    ),
    "c": (
        {"year": "unknown", "lang": "en", "author": {"name": "Ada"}, "published": "not a date", "draft": True},
        datetime(2024, 3, 10, tzinfo=UTC),
        datetime(2024, 3, 10, tzinfo=UTC),
    ),
    "d": (
        {"year": 2023, "lang": "de", "score": 3, "published": "2023-01-15", "editor": None},
        datetime(2024, 4, 10, tzinfo=UTC),
        datetime(2024, 5, 1, tzinfo=UTC),
    ),
    "e": ({}, datetime(2024, 5, 10, tzinfo=UTC), datetime(2024, 5, 10, tzinfo=UTC)),
}  # fmt: skip


@pytest.fixture(scope="module")
def url(database_url: str) -> str:
    asyncio.run(prepare_database(database_url))
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM collections WHERE name = 'default'").fetchone()
        assert row is not None
        for external_id, (metadata, created, updated) in DOCUMENTS.items():
            conn.execute(
                "INSERT INTO documents (tenant_id, collection_id, external_id, metadata, content, content_hash, "
                "created_at, updated_at) VALUES ('default', %s, %s, %s, 'text', 'hash', %s, %s)",
                (row[0], external_id, Jsonb(metadata), created, updated),
            )
    return database_url


def matching(url: str, f: SearchFilter) -> set[str]:
    fragment, params = compile_filter(f)
    query = sql.SQL("SELECT d.external_id FROM documents d WHERE {}").format(fragment)
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute(query, params)}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], "abcde"),
        (["lang=en"], "ac"),
        (["year=2019"], "a"),
        (['year="2019"'], ""),
        (["year=unknown"], "c"),
        (["score=4.5"], "b"),
        (["draft=true"], "c"),
        (["editor=null"], "d"),
        (["author.name=Ada"], "ac"),
        (["tags=c"], "b"),
        (["lang!=en"], "bde"),
        (["author.name!=Ada"], "bde"),
        (["lang:in=fr,de,xx"], "bd"),
        (["year:in=2019,2023"], "ad"),
        (["tags:in=a,b"], "ab"),
        (["year>=2021"], "bd"),
        (["year>2021"], "d"),
        (["year<2021"], "a"),
        (["year<=2021"], "ab"),
        (["year>=0"], "abd"),
        (["score>3.5"], "b"),
        (["score<=3"], "d"),
        (["published>=2022-01-01"], "bd"),
        (["published<2022-01-01"], "a"),
        (["published<=2021-05-01"], "a"),
        (["published>2022-11-30T11:00:00Z"], "bd"),
        (["published>2022-11-30T13:00:00+00:00"], "d"),
        (["published<2022-11-30T14:00:00+02:00"], "a"),
        (["published>=2022-11-30"], "bd"),
        (["lang=en", "year>=2000"], "a"),
        (["document_id=b"], "b"),
        (["document_id:in=a,c,zzz"], "ac"),
        (["document_id:in=a,c", "lang=en", "draft!=true"], "a"),
        (["created_at>=2024-02-10"], "bcde"),
        (["created_at>2024-02-10"], "cde"),
        (["created_at<2024-02-10T12:00:00Z"], "a"),
        (["created_at<=2024-02-10T12:00:00Z"], "ab"),
        (["created_at<=2024-02-10"], "ab"),
        (["created_at>=2024-02-01", "created_at<2024-04-01"], "bc"),
        (["updated_at>=2024-03-01", "updated_at<2024-05-01"], "bc"),
        (["updated_at>2024-03-01T00:00:00Z"], "cde"),
        ([f"lang={INJECTION}"], ""),
        ([f"lang!={INJECTION}"], "abcde"),
        ([f"lang:in={INJECTION}"], ""),
        ([f"document_id={INJECTION}"], ""),
    ],
)
def test_cli_filters(url: str, filters: list[str], expected: str) -> None:
    assert matching(url, build_filter(filters, None)) == set(expected)


@pytest.mark.parametrize(
    ("where_json", "expected"),
    [
        ('{"tags": ["a"]}', "a"),
        ('{"tags": ["c", "b"]}', "b"),
        ('{"author": {"name": "Ada"}, "lang": "en"}', "ac"),
        ('{"lang": "en", "year": 2019}', "a"),
        ("{}", "abcde"),
        ('{"lang": "x\'); DROP TABLE documents; --"}', ""),
    ],
)
def test_where_json_containment(url: str, where_json: str, expected: str) -> None:
    assert matching(url, build_filter([], where_json)) == set(expected)


def test_library_filter_and_injection_leave_the_table_intact(url: str) -> None:
    f = SearchFilter(
        metadata=(Condition("lang", "in", ["en", INJECTION]), Condition("year", "lt", 2020)),
        contains={"author": {"name": "Ada"}},
        document_ids=("a", "b", INJECTION),
        created_before=datetime(2024, 12, 31),
    )
    assert matching(url, f) == {"a"}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone() == (len(DOCUMENTS),)


def test_a_string_where_a_number_is_compared_neither_matches_nor_errors(url: str) -> None:
    assert "c" not in matching(url, build_filter(["year>=0"], None))
    assert "c" not in matching(url, build_filter(["year<99999"], None))
    assert matching(url, build_filter(["published<2100-01-01"], None)) == {"a", "b", "d"}


def test_fragment_composes_with_other_parameters(url: str) -> None:
    fragment, params = compile_filter(build_filter(["lang=en", "year<2020"], None), documents="docs", prefix="flt_")
    assert set(params) == {"flt_0", "flt_1", "flt_2"}
    query = sql.SQL("SELECT docs.external_id FROM documents docs WHERE docs.external_id <> %(skip)s AND {}").format(
        fragment
    )
    with psycopg.connect(url) as conn:
        assert {r[0] for r in conn.execute(query, {**params, "skip": "c"})} == {"a"}


def test_an_empty_filter_is_true() -> None:
    fragment, params = compile_filter(SearchFilter())
    assert fragment.as_string() == "TRUE"
    assert params == {}
