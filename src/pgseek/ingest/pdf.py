"""PDF text as people read it: lines joined into paragraphs, words broken at line ends mended, running headers,
footers and bare page numbers left out, and the offset where each page starts kept for citations.

pypdf gives a page's text one line per printed line, and no blank line between paragraphs. The line positions it
reports to a visitor tell paragraphs apart: a gap between two lines wider than the document's line spacing, or a
change of font size (a heading), ends a paragraph. Lines that start indented (code) or with a bullet, and table rows
(columns apart by runs of spaces, dot leaders), keep their line break. Every other line break inside a paragraph
becomes a space, or nothing when the line ends with a hyphen that only broke a word (:func:`mend_break` says how that
is decided).

Pure but for :func:`read_pdf`: :func:`pdf_text` takes lines, so that the cleanup is tested without PDFs.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pypdf import PdfReader

from pgseek.errors import DocumentError

__all__ = ["Hyphenation", "PdfLine", "PdfText", "mend_break", "pdf_text", "read_pdf"]

PARAGRAPH_GAP = 1.4
"""A gap between two lines this many times the document's line spacing (for their font size) ends a paragraph."""
MIN_SPACING = 0.8
"""Gaps under this share of the font size are not line spacing (sub- and superscripts, overprinting)."""
HABIT_MIN_BREAKS = 5
"""Line-end hyphens the document's own words must decide before their majority says how it treats the others."""
RUNNING_MIN_PAGES = 3
"""A first or last line of a page repeated (digits aside) on at least this many pages is a running header or footer."""

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_BULLET = re.compile(r"^(?:[•◦▪‣∙·*–—-]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_COLUMNS = re.compile(r"\S {2,}\S|\.{5,}|(?: \.){4,}")
_SENTENCE_END = re.compile(r"[.!?:;)\]\"”’]$")


@dataclass(frozen=True, slots=True)
class PdfLine:
    """One printed line: its text, its baseline's height on the page and its font size, where pypdf reports them."""

    text: str
    y: float | None = None
    size: float | None = None


@dataclass(frozen=True, slots=True)
class PdfText:
    text: str
    title: str | None
    pages: tuple[int, ...]
    """Offset in ``text`` where each page starts, one per page of the file (an empty page starts where the next one
    does)."""


def read_pdf(data: bytes) -> PdfText:
    """Read a PDF's text and page map; DocumentError when it is encrypted or has no text."""
    reader = PdfReader(io.BytesIO(data))
    # An empty user password is common ("owner-only" protection); anything stronger cannot be read.
    if reader.is_encrypted and not reader.decrypt(""):
        raise DocumentError("PDF is encrypted with a password")
    text, pages = pdf_text([_page_lines(page) for page in reader.pages])
    if not text:
        raise DocumentError("PDF has no extractable text (scanned images?)")
    meta_title = reader.metadata.title if reader.metadata is not None else None
    title = str(meta_title).strip() if meta_title else None
    return PdfText(text, title or None, pages)


def _page_lines(page: object) -> list[PdfLine]:
    """The page's lines as pypdf's plain extraction gives them, each with the position of its first visible text."""
    fragments: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: object, size: float) -> None:
        # The text matrix's origin mapped through the current transformation: the baseline's height on the page.
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        fragments.append((text, y, size * abs(cm[3] or 1.0)))

    page.extract_text(visitor_text=visit)  # type: ignore[attr-defined]
    lines: list[PdfLine] = []
    current: list[str] = []
    where: tuple[float, float] | None = None
    for text, y, size in fragments:
        pieces = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for i, piece in enumerate(pieces):
            if i > 0:
                lines.append(PdfLine("".join(current), *(where or (None, None))))
                current, where = [], None
            current.append(piece)
            if where is None and piece.strip():
                where = (y, size)
    lines.append(PdfLine("".join(current), *(where or (None, None))))
    return [line for line in lines if line.text.strip()]


# ------------------------------------------------------------------------------------------------------ cleanup


def pdf_text(pages: Sequence[Sequence[PdfLine]]) -> tuple[str, tuple[int, ...]]:
    """The document's text, paragraphs separated by blank lines, and the offset where each page starts."""
    kept = _drop_running_lines([[line for line in page if line.text.strip()] for page in pages])
    hyphenation = Hyphenation.of([line.text.rstrip() for page in kept for line in page])
    spacings = _line_spacings(kept)
    out: list[str] = []
    starts: list[int] = []
    length = 0
    previous: PdfLine | None = None
    for page in kept:
        starts.append(length)
        for index, line in enumerate(page):
            text = line.text.rstrip()
            if previous is None:
                piece = text if _indented(text) else text.lstrip()
            else:
                spacing = spacings.get(round(previous.size, 1)) if previous.size is not None else None
                joint = _joint(previous, line, spacing, page_break=index == 0)
                piece, mended = _join(out, joint, text, hyphenation)
                length -= mended
                if index == 0:
                    starts[-1] = length + len(piece) - len(piece.lstrip())  # where the page's own text begins
            out.append(piece)
            length += len(piece)
            previous = line
    text = "".join(out)
    # An empty page starts where the next page's text does (at the end when no text follows).
    for index in range(len(kept) - 1, -1, -1):
        if not kept[index]:
            starts[index] = starts[index + 1] if index + 1 < len(kept) else len(text)
    return text, tuple(starts)


def _joint(before: PdfLine, after: PdfLine, spacing: float | None, *, page_break: bool) -> str:
    """How two consecutive lines meet: "\\n\\n" (a new paragraph), "\\n" (a kept line break) or " " (one paragraph)."""
    first, second = before.text.rstrip(), after.text.rstrip()
    if page_break:
        # Positions do not compare across pages: a paragraph goes on when the page ended mid-sentence.
        return " " if not _SENTENCE_END.search(first) and not _indented(second) else "\n\n"
    if before.size is not None and after.size is not None and abs(before.size - after.size) > 0.5:
        return "\n\n"  # a heading starts or ends
    gap = before.y - after.y if before.y is not None and after.y is not None else None
    if spacing is not None and gap is not None and gap > PARAGRAPH_GAP * spacing:
        return "\n\n"
    if _indented(second) or _indented(first) or _BULLET.match(second.lstrip()) or _tabular(first) or _tabular(second):
        return "\n"
    return " "


def _join(out: list[str], joint: str, text: str, hyphenation: Hyphenation) -> tuple[str, int]:
    """The piece that adds ``text`` after ``joint``, and how many characters were taken off ``out``'s last piece: one
    when a word broken by a hyphen was mended."""
    if joint != " ":
        return joint + (text if _indented(text) else text.lstrip()), 0
    last = out[-1]
    tail = last.rsplit(None, 1)[-1] if last.strip() else ""
    head = text.split(None, 1)[0] if text.strip() else ""
    if len(tail) > 1 and tail.endswith("-") and head:
        if not mend_break(tail[:-1], head, hyphenation):
            out[-1] = last[:-1]
            return text.lstrip(), 1
        return text.lstrip(), 0
    return " " + text.lstrip(), 0


@dataclass(frozen=True, slots=True)
class Hyphenation:
    """What a document says about its own line-end hyphens: its words (hyphenated compounds as one word, lower-cased)
    and whether the breaks its words decide mostly keep the hyphen (a typesetter that never splits words)."""

    words: Counter[str]
    keeps_hyphens: bool = False

    @classmethod
    def of(cls, lines: Sequence[str]) -> Hyphenation:
        words = Counter(w.lower() for line in lines for w in _WORD.findall(line))
        found = [
            _evidence(m.group(1), after.split(None, 1)[0], words)
            for before, after in itertools.pairwise(lines)
            if after.strip() and (m := _BROKEN.search(before))
        ]
        kept, joined = found.count(True), found.count(False)
        return cls(words, keeps_hyphens=kept > joined and kept >= HABIT_MIN_BREAKS)


_BROKEN = re.compile(r"(\S+)-\s*$")


def mend_break(before: str, after: str, hyphenation: Hyphenation) -> bool:
    """Whether the hyphen of ``before-`` at a line's end, followed by ``after`` on the next line, is kept (``before``
    and ``after``: the words on either side of the break, up to the nearest space).

    Evidence from the document decides first: the hyphenated form written elsewhere ("well-known") keeps the
    hyphen, the joined word written elsewhere ("connection") drops it. Without evidence the hyphen is kept when
    either part holds anything but letters ("--show-leak-" / "kinds=all", "day-to-" / "day"), or when a lower-case
    part is followed by an upper-case one ("non-" / "ASCII"). Otherwise the document's own habit decides: a document
    whose decided breaks (``HABIT_MIN_BREAKS`` at least) mostly kept their hyphen never splits words ("second-" /
    "level" stays a compound); in any other, a typesetter's hyphenation ("manip-" / "ulation") is the likelier cause
    and the word is joined.
    """
    evidence = _evidence(before, after, hyphenation.words)
    if evidence is not None:
        return evidence
    left = re.search(r"[^\W\d_]+$", before)
    right = re.match(r"[^\W\d_]+", after)
    if left is None or right is None or left.start() > 0 or right.end() < len(after.rstrip(_TRAILING)):
        return True
    if left.group()[-1].islower() and right.group()[0].isupper():
        return True
    return hyphenation.keeps_hyphens


_TRAILING = ".,;:!?)]}\"'”’"


def _evidence(before: str, after: str, words: Counter[str]) -> bool | None:
    """True: the document writes the hyphenated form elsewhere; False: it writes the joined word; None: neither."""
    left = re.search(r"[^\W\d_]+(?:-[^\W\d_]+)*$", before)
    right = re.match(r"[^\W\d_]+(?:-[^\W\d_]+)*", after)
    if left is None or right is None:
        return None
    if words[f"{left.group()}-{right.group()}".lower()]:
        return True
    if words[f"{left.group()}{right.group()}".lower()]:
        return False
    return None


def _indented(line: str) -> bool:
    return line[:1].isspace()


def _tabular(line: str) -> bool:
    """A table row or a table of contents' line: columns apart by runs of spaces, or a dot leader."""
    return _COLUMNS.search(line.strip()) is not None


def _drop_running_lines(pages: list[list[PdfLine]]) -> list[list[PdfLine]]:
    """Leave out bare page numbers and running headers and footers: a page's first or last line that, with its
    digits ignored, is also the first or last line of at least ``RUNNING_MIN_PAGES`` pages."""
    edges: Counter[str] = Counter()
    for page in pages:
        for line in {_shape(page[0].text), _shape(page[-1].text)} if page else set():
            edges[line] += 1
    running = {shape for shape, count in edges.items() if count >= RUNNING_MIN_PAGES}

    def dropped(line: PdfLine) -> bool:
        return _PAGE_NUMBER.match(line.text.strip()) is not None or _shape(line.text) in running

    cleaned: list[list[PdfLine]] = []
    for page in pages:
        lines = list(page)
        while lines and dropped(lines[0]):
            lines.pop(0)
        while lines and dropped(lines[-1]):
            lines.pop()
        cleaned.append(lines)
    return cleaned


def _shape(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.split()).lower())


def _line_spacings(pages: Sequence[Sequence[PdfLine]]) -> dict[float, float]:
    """Per font size, the distance between two lines of one paragraph: a low percentile of the gaps between
    consecutive lines of that size, over the whole document. Not the median: in a reference manual most lines can be
    one-line paragraphs, whose gaps would pass for the line spacing. Gaps under 0.8 of the font size (sub- and
    superscripts, overprinting) are not line spacing either."""
    gaps: dict[float, list[float]] = {}
    for page in pages:
        for a, b in itertools.pairwise(page):
            if a.y is None or b.y is None or a.size is None or a.size != b.size:
                continue
            if a.y - b.y >= MIN_SPACING * a.size:
                gaps.setdefault(round(a.size, 1), []).append(a.y - b.y)
    return {size: sorted(found)[len(found) // 10] for size, found in gaps.items()}
