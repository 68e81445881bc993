"""What every source hands on: changes to documents, collapsed to the newest per id, and the queue they go to."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pgseek.errors import DocumentError
from pgseek.ingest.loaders import document_from_record, record_id
from pgseek.types import Document


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the document with this id."""

    external_id: str


Change = Document | Delete


def change_id(change: Change) -> str:
    return change.external_id


def newest_per_document(changes: Iterable[Change]) -> tuple[list[Document], list[str]]:
    """The last change to each document, in first-seen order: writes, then deletes.

    A batch can hold several changes of one document (an editor's save storm, a producer that publishes every
    update): only the newest can matter, and the queue would merge them anyway.
    """
    newest: dict[str, Change] = {}
    for change in changes:
        newest.pop(change.external_id, None)  # re-inserted: the order is that of the newest change
        newest[change.external_id] = change
    writes = [c for c in newest.values() if isinstance(c, Document)]
    deletes = [c.external_id for c in newest.values() if isinstance(c, Delete)]
    return writes, deletes


class Sink(Protocol):
    """Where changes go: ``seek.jobs.enqueue`` (its signature)."""

    async def enqueue(
        self,
        documents: Iterable[Document] = (),
        *,
        deletes: Iterable[str] = (),
        collection: str | None = None,
        tenant: str | None = None,
    ) -> list[int]: ...


def parse_message(data: bytes, *, source: str | None = None) -> Change:
    """One message of a stream: a document as the HTTP API and JSON Lines take it (``{"id", "text", "title",
    "metadata"}``), or ``{"id": ..., "delete": true}``. DocumentError names the field at fault."""
    try:
        record: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"the message is not JSON: {exc}") from exc
    if isinstance(record, dict) and "delete" in record:
        if record["delete"] is not True:
            raise DocumentError("field 'delete' must be true (or absent, to write the document)", field="delete")
        return Delete(record_id(record.get("id", record.get("_id"))))
    return document_from_record(record, source=source)


def describe(documents: Sequence[Document], deletes: Sequence[str]) -> str:
    """'3 writes, 1 delete'."""
    parts = [f"{len(documents)} write{'s' if len(documents) != 1 else ''}"]
    if deletes:
        parts.append(f"{len(deletes)} delete{'s' if len(deletes) != 1 else ''}")
    return ", ".join(parts)
