"""Names users give pgseek (collections, tenants, key names, document ids), checked before they reach the database.

PostgreSQL text cannot hold NUL, and a control character in a name is always a mistake (a pasted newline, a
terminal escape): both are refused here with the field they came in, instead of failing deep in a query.
"""

from __future__ import annotations

import re
from typing import Any

from pgseek.errors import InputError

MAX_NAME = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    return value


def check_document_id(value: object, *, field: str = "document_id") -> str:
    """A document's external id: any non-empty text without NUL (file paths included)."""
    if not isinstance(value, str) or not value:
        raise InputError("the document id is empty", field=field)
    if "\x00" in value:
        raise InputError("the document id contains a NUL character, which PostgreSQL text cannot hold", field=field)
    return value


def has_nul(value: Any) -> bool:
    """True when a JSON value holds NUL anywhere (a string, a key, nested): PostgreSQL text and jsonb refuse it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False
