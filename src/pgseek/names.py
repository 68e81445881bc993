"""Names users give pgseek (collections, tenants, key names, document ids), checked before they reach the database.

PostgreSQL text cannot hold NUL, and a control character in a name is always a mistake (a pasted newline, a
terminal escape): both are refused here with the field they came in, instead of failing deep in a query. So are the
values no database or JSON reader can take: lone surrogates (``"\\ud800"`` in JSON reads as text that UTF-8 cannot
encode), NaN and infinities, integers beyond 64 bits, and JSON nested deeper than ``MAX_JSON_DEPTH``.

Names and ids also appear as URL path segments in the HTTP API, where ``.`` and ``..`` are dot segments that clients
remove before sending (RFC 3986 5.2.4): an id ``..`` would address the collection, not the document. They are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from pgseek.errors import InputError

MAX_NAME = 200
MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in metadata and filters (deeper JSON is a mistake or an attack)."""
MAX_JSON_INT = 2**63 - 1
"""Largest integer magnitude accepted in metadata and filters: what 64-bit JSON readers (and bigint) hold."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_DOT_SEGMENTS = frozenset({".", ".."})
# WHATWG URL parsers (browsers, Node's fetch) also split at backslashes and read %2e as a dot.
_SEGMENT_SPLIT = re.compile(r"[/\\]")


def check_name(value: object, *, field: str, what: str) -> str:
    """A collection, tenant or key name: 1 to 200 characters, not blank, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"the {what} is empty: give a name of 1 to {MAX_NAME} characters", field=field)
    if len(value) > MAX_NAME:
        raise InputError(f"the {what} is {len(value)} characters long; the limit is {MAX_NAME}", field=field)
    if _CONTROL.search(value):
        raise InputError(
            f"the {what} {value!r} contains a control character (newline, tab, NUL...): remove it", field=field
        )
    if value in _DOT_SEGMENTS:
        raise InputError(f"the {what} cannot be {value!r}, a dot segment of URLs: choose another", field=field)
    problem = text_problem(value)
    if problem is not None:
        raise InputError(f"the {what} {problem}", field=field)
    return value


def text_problem(value: str) -> str | None:
    """Why PostgreSQL text cannot hold ``value`` (a NUL, a lone surrogate), or None when it can."""
    if "\x00" in value:
        return "contains a NUL character, which PostgreSQL text cannot hold: remove it"
    surrogate = _SURROGATE.search(value)
    if surrogate is not None:
        return (
            f"contains a lone surrogate ({surrogate.group()!r} at character {surrogate.start()}), which is not valid "
            "Unicode and cannot be stored: fix the text's encoding"
        )
    return None


def document_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a document id, or None: any non-empty text PostgreSQL holds, without dot segments."""
    if not isinstance(value, str) or not value:
        return "is empty"
    problem = text_problem(value)
    if problem is not None:
        return problem
    if any(unquote(segment) in _DOT_SEGMENTS for segment in _SEGMENT_SPLIT.split(value)):
        return (
            f"{value!r} has a '.' or '..' path segment (dot segment): HTTP clients remove those, so the id would "
            "address another resource; rename it"
        )
    return None


def check_document_id(value: object, *, field: str = "document_id") -> str:
    """A document's external id: any non-empty text without NUL, lone surrogates or dot segments (paths included)."""
    problem = document_id_problem(value)
    if problem is not None:
        raise InputError(f"the document id {problem}", field=field)
    assert isinstance(value, str)
    return value


def json_problem(value: Any, *, depth: int = 0) -> str | None:
    """Why PostgreSQL jsonb (or a JSON reader elsewhere) cannot take ``value``, or None when it can.

    Checks every key and value: NUL and lone surrogates in text, NaN and infinities, integers beyond 64 bits, and
    nesting deeper than ``MAX_JSON_DEPTH``; the recursion stops there, so hostile depth cannot exhaust the stack.
    """
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_JSON_INT else f"has an integer of {_digits(value)} digits, beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "has a NaN or infinite number, which JSON cannot hold"
    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_JSON_DEPTH:
            return f"is nested too deep: at most {MAX_JSON_DEPTH} levels of objects and arrays"
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            problem = (text_problem(key) if isinstance(key, str) else None) or json_problem(item, depth=depth + 1)
            if problem is not None:
                return problem
        return None
    return f"has a {type(value).__name__}, which is not a JSON value"


def _digits(value: int) -> str:
    # str() of a huge int is refused beyond 4,300 digits (and slow before): the bit length says enough.
    return f"about {int(value.bit_length() * math.log10(2)) + 1}"
