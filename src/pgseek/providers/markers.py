"""Citation markers in a generated answer, parsed back and checked against the sources the generator was given.

A marker is a bracketed source number, ``[2]``, or several, ``[1, 3]`` / ``[1; 3]`` (``[1][3]`` is two markers).
Numbers that name no source are removed from the text and reported; a bracket left with no valid number is removed
with the space before it, so "... in 1889 [7]." becomes "... in 1889.".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MARKER", "ParsedMarkers", "parse_markers", "remove_markers", "strip_markers"]

MARKER = re.compile(r"[ \t]*\[(\s*\d{1,4}\s*(?:[,;]\s*\d{1,4}\s*)*)\]")


@dataclass(frozen=True, slots=True)
class ParsedMarkers:
    text: str
    """The answer with markers that point nowhere removed."""
    cited: tuple[int, ...]
    """Valid source numbers, each once, in order of first appearance."""
    dropped: tuple[int, ...]
    """Numbers that name no source, each once, in order of first appearance."""


def parse_markers(text: str, sources: int) -> ParsedMarkers:
    """Check every marker of ``text`` against sources numbered 1..``sources``."""
    cited: dict[int, None] = {}
    dropped: dict[int, None] = {}

    def check(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= sources]
        for n in numbers:
            (cited if 1 <= n <= sources else dropped)[n] = None
        if len(valid) == len(numbers):
            return match.group(0)
        if not valid:
            return ""
        lead = match.group(0)[: match.group(0).index("[")]
        return f"{lead}[{', '.join(str(n) for n in valid)}]"

    cleaned = MARKER.sub(check, text)
    return ParsedMarkers(cleaned, tuple(cited), tuple(dropped))


def remove_markers(text: str) -> str:
    """The text without anything that reads as a marker; other whitespace kept.

    Documents have bracketed numbers of their own (a paper's reference markers, "[12]"): left in a context, they
    would read as citations of pgseek's sources.
    """
    return MARKER.sub("", text)


def strip_markers(text: str) -> str:
    """The text without any marker, whitespace collapsed (what evaluation compares with gold sentences)."""
    return " ".join(remove_markers(text).split())
