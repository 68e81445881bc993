"""Filter parsing and validation: the CLI syntax, the typed objects, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from pgseek.errors import InputError
from pgseek.filters import MAX_FILTER_VALUES, Condition, SearchFilter, build_filter, parse_filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lang=en", Condition("lang", "eq", "en")),
        ("lang == en", Condition("lang", "eq", "en")),
        ("year=2019", Condition("year", "eq", 2019)),
        ("score=4.5", Condition("score", "eq", 4.5)),
        ('year="2019"', Condition("year", "eq", "2019")),
        ("zip=02139", Condition("zip", "eq", "02139")),
        ("draft=true", Condition("draft", "eq", True)),
        ("draft=false", Condition("draft", "eq", False)),
        ("editor=null", Condition("editor", "eq", None)),
        ("title=a = b", Condition("title", "eq", "a = b")),
        ('quote="say \\"hi\\""', Condition("quote", "eq", 'say "hi"')),
        ("author.name=Ada", Condition("author.name", "eq", "Ada")),
        ("lang!=en", Condition("lang", "ne", "en")),
        ("year>2019", Condition("year", "gt", 2019)),
        ("year >= 2019", Condition("year", "gte", 2019)),
        ("year<2019", Condition("year", "lt", 2019)),
        ("year<=-1.5e3", Condition("year", "lte", -1500.0)),
        ("published>=2021-05-01", Condition("published", "gte", "2021-05-01")),
        ("lang:in=en,fr, de", Condition("lang", "in", ("en", "fr", "de"))),
        ('year:in=2019,2020,"x"', Condition("year", "in", (2019, 2020, "x"))),
    ],
)
def test_parse_filter_forms(text: str, expected: Condition) -> None:
    assert parse_filter(text) == expected


def test_range_dates_are_normalised_for_postgres() -> None:
    # PostgreSQL's jsonpath .datetime() reads neither "Z" nor minutes-only times; Python's ISO forms are rewritten.
    assert parse_filter("at<2021-05-01T10:00Z").value == "2021-05-01T10:00:00+00:00"
    assert Condition("at", "gte", date(2021, 5, 1)).value == "2021-05-01"
    assert Condition("at", "gte", datetime(2021, 5, 1, 9, 30)).value == "2021-05-01T09:30:00"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("lang", "filter"),
        ("=en", "filter"),
        ("lang en", "filter"),
        ("lang:out=a", "filter"),
        ("a$b=1", "filter.a$b"),
        ("a..b=1", "filter.a..b"),
        (".a=1", "filter..a"),
        ("x" * 101 + "=1", "filter." + "x" * 101),
        ("year>soon", "filter.year"),
        ("year>true", "filter.year"),
        ("year>null", "filter.year"),
        ("year>1e999", "filter.year"),
        ("year>2021-13-01", "filter.year"),
        ("lang:in=en,,fr", "filter.lang"),
        ("lang:in=", "filter.lang"),
    ],
)
def test_malformed_filters_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        parse_filter(text)
    assert info.value.field == field
    assert str(info.value)


def test_malformed_text_lists_the_accepted_forms() -> None:
    with pytest.raises(InputError, match=r"cannot read filter 'lang'.*key:in=a,b,c"):
        parse_filter("lang")


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("like", "x", "unknown filter operator 'like'"),
        ("in", [], "non-empty list"),
        ("in", "en", "non-empty list"),
        ("in", ["en", ["fr"]], "strings, numbers"),
        ("in", [float("nan")], "strings, numbers"),
        ("gt", True, "number or an ISO-8601 date"),
        ("gte", None, "number or an ISO-8601 date"),
        ("lt", [1], "number or an ISO-8601 date"),
        ("lte", "soon", "number or an ISO-8601 date"),
        ("gt", float("inf"), "number or an ISO-8601 date"),
        ("eq", {"a": 1}, "--where-json"),
        ("ne", [1], "--where-json"),
        ("eq", float("nan"), "string, number"),
    ],
)
def test_condition_validation(op: Any, value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        Condition("meta.key", op, value)
    assert info.value.field == "filter.meta.key"


def test_condition_key_must_be_a_non_empty_string() -> None:
    for key in ("", None):
        with pytest.raises(InputError) as info:
            Condition(key, "eq", 1)  # type: ignore[arg-type]
        assert info.value.field == "filter"


def test_build_filter_routes_special_keys() -> None:
    f = build_filter(
        ["lang=en", "created_at>=2024-01-01", "created_at<2024-02-01T12:00:00+02:00", "document_id:in=a,b"],
        '{"tags": ["x"]}',
    )
    assert f.metadata == (Condition("lang", "eq", "en"),)
    assert f.contains == {"tags": ["x"]}
    assert f.document_ids == ("a", "b")
    assert f.created_after == datetime(2024, 1, 1, tzinfo=UTC)
    assert f.created_before == datetime(2024, 2, 1, 10, tzinfo=UTC)
    assert f.updated_after is None and f.updated_before is None


def test_time_bounds_are_inclusive_after_and_exclusive_before() -> None:
    # A bare date is a whole day: > skips that day, <= includes it. A datetime moves by PostgreSQL's 1 µs.
    f = build_filter(["updated_at>2024-01-01", "updated_at<=2024-01-31"], None)
    assert f.updated_after == datetime(2024, 1, 2, tzinfo=UTC)
    assert f.updated_before == datetime(2024, 2, 1, tzinfo=UTC)
    f = build_filter(["created_at>2024-01-01T10:00:00", "created_at<=2024-01-01T11:00:00Z"], None)
    assert f.created_after == datetime(2024, 1, 1, 10, tzinfo=UTC) + timedelta(microseconds=1)
    assert f.created_before == datetime(2024, 1, 1, 11, tzinfo=UTC) + timedelta(microseconds=1)


def test_repeated_time_bounds_keep_the_tightest() -> None:
    f = build_filter(
        ["created_at>=2024-01-01", "created_at>=2024-03-01", "created_at<2025-01-01", "created_at<2024-06-01"], None
    )
    assert f.created_after == datetime(2024, 3, 1, tzinfo=UTC)
    assert f.created_before == datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("filters", "field", "message"),
    [
        (["created_at=2024-01-01"], "filter.created_at", "takes a range"),
        (["updated_at:in=2024-01-01"], "filter.updated_at", "takes a range"),
        (["created_at>=yesterday"], "filter.created_at", "ISO-8601"),
        (["document_id>3"], "filter.document_id", "document_id=ID"),
        (["document_id:in=a,,b"], "filter.document_id", "document_id=ID"),
        (["document_id=a", "document_id=b"], "filter.document_id", "once"),
    ],
)
def test_build_filter_errors(filters: list[str], field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        build_filter(filters, None)
    assert info.value.field == field


@pytest.mark.parametrize("text", ["[1, 2]", '"lang"', "3", "null", "{lang: en}", ""])
def test_where_json_must_be_an_object(text: str) -> None:
    with pytest.raises(InputError, match="--where-json") as info:
        build_filter([], text)
    assert info.value.field == "where_json"


def test_document_id_values_stay_strings() -> None:
    assert build_filter(["document_id=42"], None).document_ids == ("42",)
    assert build_filter(['document_id:in="a b",7'], None).document_ids == ("a b", "7")


def test_search_filter_normalises_and_validates() -> None:
    f = SearchFilter(document_ids=["a"], created_after=datetime(2024, 1, 1))  # type: ignore[arg-type]
    assert f.document_ids == ("a",)
    assert f.created_after == datetime(2024, 1, 1, tzinfo=UTC)
    east = timezone(timedelta(hours=3))
    assert SearchFilter(updated_before=datetime(2024, 1, 1, tzinfo=east)).updated_before.tzinfo is east  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contains": ["a"]}, "contains"),
        ({"contains": {"a": {1, 2}}}, "contains"),
        ({"contains": {"a": float("nan")}}, "contains"),
        ({"document_ids": ("a", "")}, "document_ids"),
        ({"document_ids": ("a", 3)}, "document_ids"),
        ({"created_before": "2024-01-01"}, "created_before"),
        ({"updated_after": date(2024, 1, 1)}, "updated_after"),
        ({"metadata": ("lang=en",)}, "filter"),
    ],
)
def test_search_filter_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        SearchFilter(**kwargs)
    assert info.value.field == field


def test_is_empty() -> None:
    assert SearchFilter().is_empty()
    assert SearchFilter(contains={}).is_empty()
    assert build_filter([], None).is_empty()
    assert not SearchFilter(metadata=(Condition("a", "eq", 1),)).is_empty()
    assert not SearchFilter(contains={"a": 1}).is_empty()
    assert not SearchFilter(document_ids=("x",)).is_empty()
    assert not SearchFilter(updated_before=datetime(2024, 1, 1, tzinfo=UTC)).is_empty()


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


HOSTILE_CONDITIONS: list[tuple[Any, Any, str]] = [
    ("gt", 10**400, "64 bits"),
    ("eq", 2**63, "64 bits"),
    ("lt", float("inf"), "must be finite"),
    ("eq", float("nan"), "must be finite"),
    ("eq", "\ud800", "lone surrogate"),
    ("in", ["a", "\udc00"], "lone surrogate"),
    ("in", list(range(MAX_FILTER_VALUES + 1)), f"limit is {MAX_FILTER_VALUES}"),
]


@pytest.mark.parametrize(("op", "value", "message"), HOSTILE_CONDITIONS)
def test_hostile_condition_values_are_refused(op: Any, value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        Condition("year", op, value)
    assert caught.value.field == "filter.year"


def test_the_largest_accepted_values_pass() -> None:
    assert Condition("n", "lte", 2**63 - 1).value == 2**63 - 1
    assert len(Condition("n", "in", list(range(MAX_FILTER_VALUES))).value) == MAX_FILTER_VALUES


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"contains": {"k": "\ud800"}}, "contains", "lone surrogate"),
        ({"contains": {"k": _nested(40)}}, "contains", "nested too deep"),
        ({"contains": {"k": _nested(900)}}, "contains", "nested too deep"),
        ({"contains": {"k": 10**30}}, "contains", "64 bits"),
        ({"document_ids": ("\ud800",)}, "document_ids", "lone surrogate"),
        ({"document_ids": tuple(str(i) for i in range(MAX_FILTER_VALUES + 1))}, "document_ids", "limit"),
        (
            {"document_ids": tuple(str(i) for i in range(600)), "metadata": (Condition("n", "in", list(range(600))),)},
            "filter",
            "holds 1200 values",
        ),
    ],
)
def test_hostile_filters_are_refused(kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        SearchFilter(**kwargs)
    assert caught.value.field == field


def test_cli_filters_refuse_numbers_and_json_python_cannot_read() -> None:
    with pytest.raises(InputError, match="too long"):
        parse_filter("n>" + "9" * 5000)
    with pytest.raises(InputError, match="nested too deep"):
        build_filter([], "[" * 100_000)
    with pytest.raises(InputError, match="64 bits"):
        parse_filter("n>" + "9" * 30)
