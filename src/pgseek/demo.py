"""The demo corpus every Python installation carries: the interactive help topics, one document per topic."""

from __future__ import annotations

from collections.abc import Iterator
from pydoc_data.topics import topics

from pgseek.types import Document

TOPICS: dict[str, str] = dict(topics)
COLLECTION = "demo"
QUERIES = (
    "how do I catch an exception and clean up afterwards",
    "format a number with two decimal places in a string",
    "loop over items and stop early",
)
QUESTION = "What does a finally clause do when the try block raises an exception?"


def documents() -> Iterator[Document]:
    for name, text in sorted(TOPICS.items()):
        yield Document(
            external_id=f"pydoc:{name}", text=text, title=name, source="pydoc_data.topics", metadata={"topic": name}
        )
