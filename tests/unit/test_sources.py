"""What sources hand to the queue: messages parsed as the API's records, the newest change per document."""

from __future__ import annotations

import json

import pytest

from pgseek.errors import DocumentError
from pgseek.sources.changes import Delete, newest_per_document, parse_message
from pgseek.sources.nats_stream import _covers
from pgseek.types import Document


def test_a_message_is_a_record_or_a_delete() -> None:
    doc = parse_message(json.dumps({"id": 7, "text": "Tides rise.", "title": "Tides", "metadata": {"a": 1}}).encode())
    assert isinstance(doc, Document)
    assert (doc.external_id, doc.title, dict(doc.metadata)) == ("7", "Tides", {"a": 1})
    assert parse_message(b'{"id": "gone", "delete": true}') == Delete("gone")


@pytest.mark.parametrize(
    ("payload", "field", "says"),
    [
        (b"\xff\xfe not json", None, "not JSON"),
        (b"[1, 2]", None, "expected a JSON object"),
        (b'{"text": "no id"}', "id", "'id' is missing"),
        (b'{"id": "a", "text": ""}', "text", "'text' is empty"),
        (b'{"id": "a", "delete": "yes"}', "delete", "must be true"),
        (b'{"delete": true}', "id", "non-empty string or integer"),
        (b'{"id": "a", "text": "t", "metadata": [1]}', "metadata", "must be an object"),
    ],
)
def test_a_bad_message_names_its_field(payload: bytes, field: str | None, says: str) -> None:
    with pytest.raises(DocumentError, match=says) as caught:
        parse_message(payload)
    assert caught.value.field == field


def test_the_newest_change_of_each_document_wins_in_order() -> None:
    a1, a2, b = Document("a", "one"), Document("a", "two"), Document("b", "bee")
    writes, deletes = newest_per_document([a1, b, Delete("b"), a2, Delete("c")])
    assert writes == [a2] and deletes == ["b", "c"]
    writes, deletes = newest_per_document([Delete("a"), a1])
    assert writes == [a1] and deletes == []


@pytest.mark.parametrize(
    ("pattern", "subject", "covered"),
    [
        ("docs.>", "docs.a.b", True),
        ("docs.*", "docs.a", True),
        ("docs.*", "docs.a.b", False),
        ("docs", "docs", True),
        ("docs.a", "docs.b", False),
        (">", "anything", True),
    ],
)
def test_a_stream_subject_pattern_covers_a_subject(pattern: str, subject: str, covered: bool) -> None:
    assert _covers(pattern, subject) is covered
