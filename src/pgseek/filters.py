"""Search filters: a typed object for the library and a small text syntax for the CLI.

Pure Python: the SQL is built in ``pgseek.db.filters``. Every condition is ANDed with the others.

Metadata conditions (``Condition``) address a key in a document's metadata; a dot nests (``author.name`` is
``metadata->'author'->'name'``). Where the stored value is an array, a condition matches when any element does.

    eq / ne          equal / not equal (ne also matches documents that lack the key)
    in               equal to one of a list
    gt gte lt lte    numeric comparison, or date comparison for ISO-8601 date/datetime strings

CLI syntax (``--filter``, repeatable):

    key=value  key!=value  key>value  key>=value  key<value  key<=value  key:in=a,b,c

A value is a number, ``true``, ``false`` or ``null`` when it reads as one, otherwise a string; double quotes force
a string (``zip="02139"``). Values in an ``:in=`` list cannot contain commas. Two keys are special:
``created_at`` / ``updated_at`` take the range operators and filter the document's own timestamps (a bare date means
that whole day in UTC), and ``document_id=X`` / ``document_id:in=a,b`` select documents by external id. To match a
metadata key with one of these names, use ``--where-json``, which takes a JSON object for jsonb containment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

from pgseek.errors import InputError
from pgseek.names import MAX_JSON_INT, json_problem, text_problem
from pgseek.types import JSONValue

Op = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte"]
OPS: frozenset[str] = frozenset(get_args(Op))
RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})

# Only characters that need no quoting anywhere (SQL, jsonpath, shell): the key never reaches SQL as text anyway.
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_MAX_KEY = 100
_FORMS = "key=value, key!=value, key>value, key>=value, key<value, key<=value or key:in=a,b,c"
# Longest operators first, so that ">=" is not read as ">" followed by a value starting with "=".
_CLI_OPS: dict[str, Op] = {
    ":in=": "in",
    "==": "eq",
    "!=": "ne",
    ">=": "gte",
    "<=": "lte",
    "=": "eq",
    ">": "gt",
    "<": "lt",
}
_CLI = re.compile(r"\s*(?P<key>[^=!<>:\s]+)\s*(?P<op>:in=|==|!=|>=|<=|=|>|<)(?P<value>.*)", re.DOTALL)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS: dict[str, JSONValue] = {"true": True, "false": False, "null": None}
_TIME_KEYS = ("created_at", "updated_at")
_DOCUMENT_ID = "document_id"
MAX_FILTER_VALUES = 1000
"""Most values one filter may hold, all parts together (``in`` lists, document ids, conditions, ``contains``
leaves): a filter of 100,000 values took seconds to plan and run, and no search needs one."""


def _field(key: str) -> str:
    return f"filter.{key}" if key else "filter"


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise InputError("a filter needs a metadata key, such as lang or author.name", field="filter")
    if len(key) > _MAX_KEY or not _KEY.fullmatch(key):
        raise InputError(
            f"filter key {key!r} is not usable: use up to {_MAX_KEY} letters, digits, '_' or '-', with '.' between "
            "nested keys (author.name)",
            field=_field(key),
        )


def _is_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and infinity have no JSON form
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_JSON_INT
    return value is None or isinstance(value, str | bool)


def iso_moment(text: str) -> str | None:
    """The canonical ISO-8601 form of a date or datetime string, or None when it is neither.

    Canonical because PostgreSQL's jsonpath ``.datetime()`` reads fewer forms than Python does (no ``Z``, no
    minutes-only times): normalising here means a value Python accepts never silently matches nothing there.
    """
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


def _range_value(key: str, op: str, value: object) -> JSONValue:
    if isinstance(value, int | float) and not isinstance(value, bool) and _is_scalar(value):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    moment = iso_moment(value) if isinstance(value, str) else None
    if moment is None:
        raise InputError(
            f"filter {key!r} {op} needs a number or an ISO-8601 date (2024-05-01) or datetime "
            f"(2024-05-01T12:00:00+00:00), not {_shown(value)}{_NUMBERS}",
            field=_field(key),
        )
    return moment


_NUMBERS = " (numbers must be finite, integers within 64 bits)"


def _shown(value: object) -> str:
    # A huge integer has no str() beyond 4,300 digits, and a long list would flood the message.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INT:
        return "an integer beyond 64 bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _in_value(key: str, value: object) -> tuple[JSONValue, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InputError(f"filter {key!r} in needs a non-empty list of values, not {_shown(value)}", field=_field(key))
    if len(value) > MAX_FILTER_VALUES:
        raise InputError(
            f"filter {key!r} in has {len(value)} values; the limit is {MAX_FILTER_VALUES}: split the search, or "
            "tag the documents with a metadata key to filter on",
            field=_field(key),
        )
    bad = [v for v in value if not _is_scalar(v)]
    if bad:
        raise InputError(
            f"filter {key!r} in takes strings, numbers, booleans or null, not {_shown(bad[0])}{_NUMBERS}",
            field=_field(key),
        )
    return tuple(value)


def _checked_value(key: str, op: str, value: object) -> JSONValue:
    if op == "in":
        return _in_value(key, value)
    if op in RANGE_OPS:
        return _range_value(key, op, value)
    if not _is_scalar(value):
        raise InputError(
            f"filter {key!r} {op} takes a string, number, boolean or null, not {_shown(value)}{_NUMBERS}; "
            "to match nested objects or arrays use contains (--where-json)",
            field=_field(key),
        )
    return value


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on a metadata key. ``in`` values become a tuple; range dates are normalised to ISO-8601."""

    key: str
    op: Op
    value: JSONValue

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.op not in OPS:
            raise InputError(
                f"unknown filter operator {self.op!r} for {self.key!r}: use one of {', '.join(sorted(OPS))}",
                field=_field(self.key),
            )
        # Frozen: normalised values are set once, here, through object.__setattr__.
        object.__setattr__(self, "value", _checked_value(self.key, self.op, self.value))
        problem = json_problem(self.value)
        if problem is not None:
            raise InputError(f"filter {self.key!r} value {problem}", field=_field(self.key))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


def _utc(name: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InputError(f"{name} must be a datetime, not {value!r}", field=name)
    # A naive datetime is read as UTC, the one reading that does not depend on the machine it runs on.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_contains(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise InputError(f'contains must be a JSON object such as {{"lang": "en"}}, not {value!r}', field="contains")
    # Checked before json.dumps, which recurses without bound and cannot print huge integers.
    problem = json_problem(dict(value))
    if problem is not None:
        raise InputError(f"contains {problem}", field="contains")
    try:
        json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"contains must hold only JSON values: {exc}", field="contains") from exc


def _check_document_ids(ids: tuple[object, ...]) -> None:
    if len(ids) > MAX_FILTER_VALUES:
        raise InputError(
            f"the filter has {len(ids)} document ids; the limit is {MAX_FILTER_VALUES}: split the search",
            field="document_ids",
        )
    for i in ids:
        problem = text_problem(i) if isinstance(i, str) and i else "is empty, or not a string"
        if problem is not None:
            raise InputError(f"a document id of the filter {problem}", field="document_ids")


def _leaves(value: object) -> int:
    """JSON scalars in a value (its size for the filter limit); depth is bounded by the checks before."""
    if isinstance(value, Mapping):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_leaves(v) for v in value)
    return 1


def _check_size(f: SearchFilter) -> None:
    size = len(f.document_ids) + sum(_leaves(c.value) for c in f.metadata)
    size += _leaves(dict(f.contains)) if f.contains is not None else 0
    if size > MAX_FILTER_VALUES:
        raise InputError(
            f"the filter holds {size} values (conditions, in lists, document ids and contains together); the limit "
            f"is {MAX_FILTER_VALUES}: simplify it",
            field="filter",
        )


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What a search may return, beyond tenant and collection. All parts are ANDed; the default matches everything.

    ``created_after`` / ``updated_after`` are inclusive, ``created_before`` / ``updated_before`` exclusive; naive
    datetimes are taken as UTC.
    """

    metadata: tuple[Condition, ...] = ()
    contains: Mapping[str, JSONValue] | None = None
    """jsonb containment: documents whose metadata includes this object."""
    document_ids: tuple[str, ...] = ()
    """External ids; a document matches when its id is any of them."""
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", tuple(self.metadata))
        object.__setattr__(self, "document_ids", tuple(self.document_ids))
        if not all(isinstance(c, Condition) for c in self.metadata):
            raise InputError("metadata must hold Condition objects", field="filter")
        _check_contains(self.contains)
        _check_document_ids(self.document_ids)
        _check_size(self)
        for name in ("created_after", "created_before", "updated_after", "updated_before"):
            object.__setattr__(self, name, _utc(name, getattr(self, name)))

    def is_empty(self) -> bool:
        times = (self.created_after, self.created_before, self.updated_after, self.updated_before)
        # An empty contains object is contained in every document: it filters nothing.
        return not (self.metadata or self.contains or self.document_ids or any(t is not None for t in times))


def _split(text: str) -> tuple[str, Op, str]:
    match = _CLI.fullmatch(text)
    if match is None:
        raise InputError(f"cannot read filter {text!r}: write {_FORMS}", field="filter")
    return match["key"], _CLI_OPS[match["op"]], match["value"]


def _text(raw: str) -> tuple[str, bool]:
    """The value's text, and whether it was double-quoted (which makes it a string whatever it looks like)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text)), True  # honours JSON escapes such as \" inside the quotes
        except ValueError:
            return text[1:-1], True
    return text, False


def _scalar(raw: str) -> JSONValue:
    text, quoted = _text(raw)
    if quoted:
        return text
    if text in _LITERALS:
        return _LITERALS[text]
    if _JSON_NUMBER.fullmatch(text):
        try:
            return json.loads(text)
        except ValueError:  # more than 4,300 digits: Python's own bound on reading integers
            raise InputError(f"the number {text[:20]}... is too long: use at most 19 digits", field="filter") from None
    return text


def _values(key: str, op: Op, raw: str) -> JSONValue:
    if op != "in":
        return _scalar(raw)
    items = raw.split(",")
    if any(not item.strip() for item in items):
        raise InputError(f"filter {key!r} has an empty item in {raw!r}: write {key}:in=a,b,c", field=_field(key))
    return [_scalar(item) for item in items]


def parse_filter(text: str) -> Condition:
    """Read one ``--filter`` argument as a metadata condition (see the module docstring for the syntax)."""
    key, op, raw = _split(text)
    return Condition(key, op, _values(key, op, raw))


def _moment(key: str, raw: str) -> tuple[datetime, timedelta]:
    """A point in time and the step to the next distinguishable one: a day for a date, 1 µs for a datetime."""
    text, _ = _text(raw)
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC), timedelta(days=1)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{key} needs an ISO-8601 date (2024-05-01) or datetime (2024-05-01T12:00:00+00:00), not {text!r}",
            field=_field(key),
        ) from None
    # PostgreSQL keeps microseconds, so "after t" is exactly "at or after t + 1 µs".
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), timedelta(microseconds=1)


def _add_time(bounds: dict[str, datetime], key: str, op: Op, raw: str) -> None:
    if op not in RANGE_OPS:
        raise InputError(
            f"{key} takes a range: write {key}>=2024-01-01 or {key}<2024-02-01 (>, >=, <, <=)", field=_field(key)
        )
    moment, step = _moment(key, raw)
    # Stored as an inclusive lower and an exclusive upper bound: > and <= move the point by one step.
    if op in ("gte", "gt"):
        name, value = f"{key.removesuffix('_at')}_after", moment + step if op == "gt" else moment
        bounds[name] = max(value, bounds.get(name, value))
    else:
        name, value = f"{key.removesuffix('_at')}_before", moment + step if op == "lte" else moment
        bounds[name] = min(value, bounds.get(name, value))


def _document_ids(op: Op, raw: str) -> tuple[str, ...]:
    ids = tuple(_text(item)[0] for item in raw.split(",")) if op == "in" else (_text(raw)[0],)
    if op not in ("eq", "in") or not all(ids):
        raise InputError(
            f"cannot read {_DOCUMENT_ID} filter {raw!r}: write {_DOCUMENT_ID}=ID or {_DOCUMENT_ID}:in=ID1,ID2",
            field=_field(_DOCUMENT_ID),
        )
    return ids


def parse_where_json(text: str) -> dict[str, JSONValue]:
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputError("--where-json is nested too deep to read", field="where_json") from None
    except ValueError as exc:
        raise InputError(
            f'--where-json is not valid JSON ({exc}): write an object such as \'{{"lang": "en"}}\'', field="where_json"
        ) from exc
    if not isinstance(value, dict):
        raise InputError(
            f'--where-json must be a JSON object such as \'{{"lang": "en"}}\', not {text.strip()!r}',
            field="where_json",
        )
    return value


def build_filter(filters: Sequence[str], where_json: str | None = None) -> SearchFilter:
    """The CLI's filter: repeated ``--filter`` arguments and an optional ``--where-json`` object, all ANDed."""
    conditions: list[Condition] = []
    bounds: dict[str, datetime] = {}
    document_ids: tuple[str, ...] | None = None
    for text in filters:
        key, op, raw = _split(text)
        if key in _TIME_KEYS:
            _add_time(bounds, key, op, raw)
        elif key == _DOCUMENT_ID:
            if document_ids is not None:
                raise InputError(
                    f"give {_DOCUMENT_ID} once; for several documents write {_DOCUMENT_ID}:in=ID1,ID2",
                    field=_field(_DOCUMENT_ID),
                )
            document_ids = _document_ids(op, raw)
        else:
            conditions.append(Condition(key, op, _values(key, op, raw)))
    contains = parse_where_json(where_json) if where_json is not None else None
    return SearchFilter(
        tuple(conditions),
        contains,
        document_ids or (),
        created_after=bounds.get("created_after"),
        created_before=bounds.get("created_before"),
        updated_after=bounds.get("updated_after"),
        updated_before=bounds.get("updated_before"),
    )
