"""A document survives the trip through a job's payload (JSON in the jobs table) unchanged."""

from __future__ import annotations

import json

from pgseek import Document
from pgseek.jobs.process import document_payload, payload_document


def test_payload_round_trip() -> None:
    docs = [
        Document("a", "text"),
        Document("b/c.pdf", "page one page two", title="T", source="/x/c.pdf", metadata={"k": [1, 2]}, pages=(0, 9)),
    ]
    for doc in docs:
        assert payload_document(json.loads(json.dumps(document_payload(doc)))) == doc
