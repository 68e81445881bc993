"""Compile a ``SearchFilter`` into a SQL fragment: values travel only as parameters, the table alias as an Identifier.

Equality is jsonb containment (``@>``), which the ``jsonb_path_ops`` GIN index on ``documents.metadata`` serves.
Comparisons use jsonpath with the value passed in ``vars``: the path itself holds only validated key names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from pgseek.filters import Condition, SearchFilter
from pgseek.types import JSONValue

_JSONPATH_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TIME_COLUMNS = (
    ("created_at", ">=", "created_after"),
    ("created_at", "<", "created_before"),
    ("updated_at", ">=", "updated_after"),
    ("updated_at", "<", "updated_before"),
)


class _Params:
    """Named parameters with unique names, so several fragments can share one statement."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return sql.Placeholder(name)


def _nest(path: Sequence[str], value: JSONValue) -> JSONValue:
    """{"author": {"name": value}} for the path ("author", "name")."""
    for key in reversed(path):
        value = {key: value}
    return value


def _equals(
    metadata: sql.Composable, path: Sequence[str], values: Sequence[JSONValue], params: _Params
) -> sql.Composed:
    # Each value as itself and as a one-element array, so tags=a matches {"tags": ["a", "b"]} as jsonpath does for
    # ranges. One jsonb[] parameter whatever the number of values; a bitmap scan on the GIN index still serves ANY.
    forms = [Jsonb(_nest(path, form)) for value in values for form in (value, [value])]
    return sql.SQL("({} @> ANY({}::jsonb[]))").format(metadata, params.add(forms))


def _compare(metadata: sql.Composable, condition: Condition, params: _Params) -> sql.Composed:
    steps = "".join(f'."{key}"' for key in condition.path)  # keys are validated: no quote or backslash in them
    op = _JSONPATH_OPS[condition.op]
    if isinstance(condition.value, str):
        # A validated ISO date or datetime. The _tz variant lets a date compare with a datetime that has a zone;
        # silent (true) makes values of another type, or strings that are not dates, fail to match, not error.
        path = f"${steps} ? (@.datetime() {op} $v.datetime())"
        function = sql.SQL("jsonb_path_exists_tz")
    else:
        path = f"${steps} ? (@ {op} $v)"
        function = sql.SQL("jsonb_path_exists")
    vars_ = Jsonb({"v": condition.value})
    return sql.SQL("{}({}, {}::jsonpath, {}::jsonb, true)").format(
        function, metadata, params.add(path), params.add(vars_)
    )


def _condition(metadata: sql.Composable, condition: Condition, params: _Params) -> sql.Composable:
    if condition.op == "eq":
        return _equals(metadata, condition.path, [condition.value], params)
    if condition.op == "ne":
        return sql.SQL("NOT {}").format(_equals(metadata, condition.path, [condition.value], params))
    if condition.op == "in":
        return _equals(metadata, condition.path, list(condition.value), params)
    return _compare(metadata, condition, params)


def _document_parts(table: sql.Identifier, f: SearchFilter, params: _Params) -> list[sql.Composable]:
    parts: list[sql.Composable] = []
    if f.contains:
        # json round trip: a plain dict for the dumper, whatever Mapping the caller gave.
        contains = Jsonb(json.loads(json.dumps(dict(f.contains))))
        parts.append(sql.SQL("{}.metadata @> {}::jsonb").format(table, params.add(contains)))
    if f.document_ids:
        parts.append(sql.SQL("{}.external_id = ANY({}::text[])").format(table, params.add(list(f.document_ids))))
    for column, op, name in _TIME_COLUMNS:
        moment = getattr(f, name)
        if moment is not None:
            parts.append(sql.SQL("{}.{} {} {}").format(table, sql.Identifier(column), sql.SQL(op), params.add(moment)))
    return parts


def compile_filter(
    f: SearchFilter, *, documents: str = "d", prefix: str = "f"
) -> tuple[sql.Composable, dict[str, Any]]:
    """A fragment to AND into a WHERE clause over ``documents AS <documents>``, and its named parameters.

    ``sql.SQL("TRUE")`` and no parameters when the filter is empty. Parameter names are ``<prefix>0``,
    ``<prefix>1``...: pick a prefix that the rest of the statement does not use.
    """
    params = _Params(prefix)
    table = sql.Identifier(documents)
    metadata = sql.SQL("{}.metadata").format(table)
    parts = [_condition(metadata, c, params) for c in f.metadata] + _document_parts(table, f, params)
    if not parts:
        return sql.SQL("TRUE"), {}
    # Parenthesised as a whole, so that ANDing it next to an OR elsewhere cannot change its meaning.
    return sql.SQL("({})").format(sql.SQL(" AND ").join(parts)), params.values
