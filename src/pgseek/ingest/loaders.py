"""Turn files, folders and stdin into ``Document``s.

Every loader produces plain text in which section headings are Markdown ``#`` lines, because chunking splits at
those whatever the source format was. One unreadable file never stops a batch: ``load_paths`` reports it as a
``LoadFailure`` and goes on.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import io
import json
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from charset_normalizer import from_bytes

from pgseek.errors import DocumentError
from pgseek.ingest.pdf import read_pdf
from pgseek.names import document_id_problem, json_problem, text_problem
from pgseek.types import Document, LoadFailure

__all__ = ["SUPPORTED_SUFFIXES", "document_from_record", "load_bytes", "load_file", "load_paths"]

# pypdf logs a warning for every malformed object it works around; a damaged PDF is reported once, as a failure.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_FORMATS)

# utf-32-le's BOM begins with utf-16-le's, so the longer BOMs are tried first.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Unicode category Cc less the whitespace controls text files legitimately hold (\t \n \v \f \r).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.05
_CLOSE_SCORE = 0.01
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")


# --------------------------------------------------------------------------------------------------------- decoding


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _detect(data: bytes) -> str | None:
    """Ask charset_normalizer, but prefer cp1252 when it scores as well as the winner.

    For short Western European text cp1250 and cp1252 tie and cp1250 is often listed first, which turns "è" into
    "č"; cp1252 is the likelier source for the text pgseek sees. UTF-16/32 without a BOM is never accepted: such
    text has NUL bytes and is rejected before this, so a UTF-16 guess here is a misreading of 8-bit text.
    """
    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        close = match.chaos <= best.chaos + _CLOSE_SCORE and match.coherence >= best.coherence - _CLOSE_SCORE
        if close and "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return str(best.encoding)


def _try_declared(data: bytes, declared: str | None) -> str | None:
    """Decode with an encoding the document names itself, as browsers do (latin-1 means cp1252 on the web)."""
    if not declared:
        return None
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        return None
    if name in ("ascii", "latin-1", "iso8859-1"):
        name = "cp1252"
    try:
        return data.decode(name)
    except UnicodeDecodeError:
        return None


def _decode(data: bytes, *, declared: str | None = None) -> str:
    """Bytes to clean text, or DocumentError when the bytes are not text at all."""
    bom = _bom_encoding(data)
    if bom is not None:
        try:
            text = data.decode(bom)
        except UnicodeDecodeError as exc:
            raise DocumentError(f"file starts with a {bom} byte-order mark but is not valid {bom}") from exc
    else:
        text = _decode_without_bom(data, declared)
    return _clean_text(text)


def _decode_without_bom(data: bytes, declared: str | None) -> str:
    if b"\x00" in data:
        raise DocumentError("file looks binary (contains NUL bytes), not text")
    text = _try_declared(data, declared)
    if text is not None:
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    encoding = _detect(data)
    if encoding is None:
        raise DocumentError("file looks binary: no text encoding fits its bytes")
    return data.decode(encoding, errors="replace")


def _clean_text(text: str) -> str:
    """Normalise newlines, drop NULs (PostgreSQL text cannot hold them) and refuse control-character soup."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentError("file is empty")
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise DocumentError(f"file looks binary ({controls} of {len(text)} characters are control characters)")
    return text


# ----------------------------------------------------------------------------------------------------- text, markdown


def _markdown_title(text: str) -> str | None:
    """First ``# `` heading outside fenced code blocks, where a ``#`` line is a comment, not a heading."""
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            return match.group(1)
    return None


def _parse_plain(data: bytes, fmt: str) -> tuple[str, str | None]:
    text = _decode(data)
    return text, _markdown_title(text) if fmt == "md" else None


# ----------------------------------------------------------------------------------------------------------- html

_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg"})
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LINE_TAGS = frozenset({"li", "br", "tr", "dt", "dd"})
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote", "table",
        "thead", "tbody", "tfoot", "ul", "ol", "dl", "figure", "figcaption", "form", "hr", "address", "details",
        "summary", "caption", "body", "html", "pre",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")


class _HTMLText(HTMLParser):
    """Collects an HTML page's visible text as paragraphs, with headings rewritten as Markdown ``#`` lines.

    Text accumulates in a segment until a block boundary; each finished segment remembers whether it continues the
    previous one on the next line (list items, table rows) or starts a new paragraph.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.first_h1: str | None = None
        self._in_title = False
        self._in_body = False
        self._skip: list[str] = []
        self._pre = 0
        self._segment: list[str] = []
        self._prefix = ""
        self._separator = ""
        self._heading_level = 0
        self._blocks: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self._in_body:  # an <svg><title> in the body is a tooltip, not the page's title
            self._in_title = True
        elif tag == "body":
            self._in_body = True
            self._skip = [t for t in self._skip if t != "head"]  # pages often never close <head>
        if tag in _SKIPPED_TAGS:
            self._skip.append(tag)
        elif tag in _HEADINGS:
            self._boundary("\n\n")
            self._heading_level = _HEADINGS[tag]
        elif tag in _LINE_TAGS:
            self._boundary("\n")
            self._prefix = "- " if tag == "li" else self._prefix
        elif tag in _BLOCK_TAGS:
            self._boundary("\n\n")
            self._pre += tag == "pre"
        elif tag in _CELL_TAGS:
            self._segment.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._skip:
            while self._skip.pop() != tag:  # an unclosed skipped element ends with its parent
                pass
        elif tag in _LINE_TAGS:
            self._boundary("\n")
            self._prefix = "" if tag == "li" else self._prefix  # <br/> also arrives here and must keep a bullet
        elif tag in _HEADINGS or tag in _BLOCK_TAGS:
            self._boundary("\n\n")
            self._pre -= tag == "pre" and self._pre > 0

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self._segment.append(data)

    def _boundary(self, separator: str) -> None:
        """Finish the gathered text; the next block follows after the widest separator seen since the last one."""
        raw = "".join(self._segment)
        text = raw.strip("\n").rstrip() if self._pre else _SPACES.sub(" ", raw).strip()
        if text and self._heading_level:
            self.first_h1 = self.first_h1 or (text if self._heading_level == 1 else None)
            text = "#" * self._heading_level + " " + text
        if text:
            self._blocks.append((self._separator, self._prefix + text))
            self._separator, self._prefix = separator, ""
        else:
            self._separator = max(self._separator, separator, key=len)
        self._segment, self._heading_level = [], 0

    def text(self) -> str:
        self._boundary("\n\n")
        return "".join(sep + block for sep, block in self._blocks).strip("\n")


def _parse_html(data: bytes) -> tuple[str, str | None]:
    match = _META_CHARSET.search(data[:4096])
    declared = match.group(1).decode("ascii") if match else None
    parser = _HTMLText()
    parser.feed(_decode(data, declared=declared))
    parser.close()
    text = parser.text()
    if not text.strip():
        raise DocumentError("HTML page has no visible text")
    title = _SPACES.sub(" ", "".join(parser.title_parts)).strip()
    return text, title or parser.first_h1


# ------------------------------------------------------------------------------------------------------------- pdf


def _parse_pdf(data: bytes) -> _Parsed:
    """Extract the text (see pdf.py); any failure inside pypdf means the file is damaged or unsupported, not a pgseek
    bug."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = read_pdf(data)
    except DocumentError:
        raise
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise DocumentError(f"cannot parse PDF: {reason}") from exc
    return _Parsed(parsed.text, parsed.title, parsed.pages)


def _clean_extracted(text: str) -> str:
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()


# ----------------------------------------------------------------------------------------------------------- jsonl


def _jsonl_record(record: Any, source: str | None) -> Document:
    """One BEIR-style corpus record to a Document; the message names the offending field."""
    if not isinstance(record, dict):
        raise DocumentError(f"expected a JSON object, got {type(record).__name__}")
    raw_id = record.get("_id", record.get("id"))
    if raw_id is None:
        raise DocumentError("field 'id' is missing (or '_id')", field="id")
    external_id = record_id(raw_id)
    text = _jsonl_text(record)
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise DocumentError("field 'title' must be a string", field="title")
    problem = text_problem(title) if title is not None else None
    if problem is not None:
        raise DocumentError(f"field 'title' {problem}", field="title")
    metadata = record.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise DocumentError("field 'metadata' must be an object", field="metadata")
    problem = json_problem(metadata)
    if problem is not None:
        raise DocumentError(f"field 'metadata' {problem}", field="metadata")
    title = title.replace("\x00", "") if title else None
    return Document(external_id, text, title=title or None, source=source, metadata=metadata)


def record_id(raw_id: object) -> str:
    """A record's ``id`` value as a document id; DocumentError (field ``id``) when it cannot be one."""
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id) == "":
        raise DocumentError("field 'id' must be a non-empty string or integer", field="id")
    problem = document_id_problem(str(raw_id))
    if problem is not None:
        raise DocumentError(f"field 'id' {problem}", field="id")
    return str(raw_id)


def document_from_record(record: Any, *, source: str | None = None) -> Document:
    """One record ``{"id", "title", "text", "metadata"}`` (a JSON Lines line, or an item of an HTTP ingest batch)
    to a Document, read exactly as ``.jsonl`` files are; DocumentError names the field at fault."""
    return _jsonl_record(record, source)


def _jsonl_text(record: dict[str, Any]) -> str:
    if "text" not in record:
        raise DocumentError("field 'text' is missing", field="text")
    text = record["text"]
    if not isinstance(text, str):
        raise DocumentError("field 'text' must be a string", field="text")
    problem = text_problem(text.replace("\x00", ""))  # NULs are dropped below, as from files
    if problem is not None:
        raise DocumentError(f"field 'text' {problem}", field="text")
    text = _clean_extracted(text) if text.strip() else ""
    if not text:
        raise DocumentError("field 'text' is empty", field="text")
    return text


def _iter_jsonl(path: Path) -> Iterator[Document | LoadFailure]:
    """Stream a JSON Lines corpus: a bad line is reported alone so one typo does not drop a whole corpus."""
    try:
        with path.open("rb") as fh:
            yield from _jsonl_lines(fh, _absolute(path), str(path))
    except OSError as exc:
        yield LoadFailure(str(path), f"cannot read file: {exc.strerror or exc}")


def _jsonl_lines(lines: Iterable[bytes], source: str, path: str) -> Iterator[Document | LoadFailure]:
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        if raw.strip():
            yield _jsonl_line(raw, lineno, source, seen, path)
    if not seen:
        yield LoadFailure(path, "file is empty (no JSON lines)")


def _jsonl_line(raw: bytes, lineno: int, source: str, seen: dict[str, int], path: str) -> Document | LoadFailure:
    try:
        record = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
        doc = _jsonl_record(record, source)
    except UnicodeDecodeError:
        return LoadFailure(f"{path}:{lineno}", f"line {lineno}: not valid UTF-8")
    except json.JSONDecodeError as exc:
        return LoadFailure(f"{path}:{lineno}", f"line {lineno}: invalid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return LoadFailure(f"{path}:{lineno}", f"line {lineno}: JSON nested too deep to read")
    except ValueError as exc:  # json's own limits, such as an integer of more than 4,300 digits
        return LoadFailure(f"{path}:{lineno}", f"line {lineno}: invalid JSON: {exc}")
    except DocumentError as exc:
        return LoadFailure(f"{path}:{lineno}", f"line {lineno}: {exc}")
    if doc.external_id in seen:
        first = seen[doc.external_id]
        error = f"line {lineno}: duplicate id {doc.external_id!r} (first on line {first})"
        return LoadFailure(f"{path}:{lineno}", error)
    seen[doc.external_id] = lineno
    return doc


# ---------------------------------------------------------------------------------------------------------- files


def _absolute(path: Path) -> str:
    """Resolved absolute path: the same file gets the same external id whatever the working directory."""
    return path.resolve().as_posix()


def _unsupported(path: Path) -> str:
    suffix = path.suffix or "(none)"
    return f"unsupported file type {suffix}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"


@dataclass(frozen=True, slots=True)
class _Parsed:
    text: str
    title: str | None
    pages: tuple[int, ...] = ()


def _parse_bytes(data: bytes, fmt: str) -> _Parsed:
    if fmt == "html":
        return _Parsed(*_parse_html(data))
    if fmt == "pdf":
        return _parse_pdf(data)
    return _Parsed(*_parse_plain(data, fmt))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError("no such file or directory") from exc
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from exc


def load_file(path: Path) -> list[Document]:
    """Load one file; raises DocumentError on failure (for JSON Lines, on the first bad line)."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DocumentError(_unsupported(path))
    if fmt == "jsonl":
        if not path.is_file():
            raise DocumentError("no such file or directory")
        docs = []
        for item in _iter_jsonl(path):
            if isinstance(item, LoadFailure):
                raise DocumentError(item.error)
            docs.append(item)
        return docs
    parsed = _parse_bytes(_read_bytes(path), fmt)
    absolute = _absolute(path)
    metadata = {"path": absolute, "format": fmt}
    title = parsed.title or path.stem
    return [Document(absolute, parsed.text, title=title, source=absolute, metadata=metadata, pages=parsed.pages)]


def load_bytes(name: str, data: bytes) -> list[Document | LoadFailure]:
    """Load a file received as bytes (an HTTP upload), by its name's suffix, with the same parsers as files on disk.

    The name, as the client gave it, is the document's external id and source (for ``.jsonl``, each record's id).
    """
    suffix = Path(name).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        return [LoadFailure(name, _unsupported(Path(name)))]
    if fmt == "jsonl":
        return list(_jsonl_lines(io.BytesIO(data), name, name))
    try:
        parsed = _parse_bytes(data, fmt)
    except DocumentError as exc:
        return [LoadFailure(name, str(exc))]
    title = parsed.title or Path(name).stem or name
    metadata = {"filename": name, "format": fmt}
    return [Document(name, parsed.text, title=title, source=name, metadata=metadata, pages=parsed.pages)]


# -------------------------------------------------------------------------------------------------------- batches


def _sniff_format(data: bytes) -> str:
    """stdin has no file name, so its format comes from its first bytes."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "md"


def _load_stdin(stdin: TextIO | BinaryIO | None, external_id: str | None) -> Iterator[Document | LoadFailure]:
    stream = stdin if stdin is not None else sys.stdin.buffer
    try:
        raw = stream.read()
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        fmt = _sniff_format(data)
        parsed = _parse_bytes(data, fmt)
    except (DocumentError, OSError) as exc:
        yield LoadFailure("-", str(exc))
        return
    if fmt == "md" and parsed.title is None:
        fmt = "txt"
    # Named by its content unless named by the caller: a fixed id would make each piped document replace the last.
    name = external_id or f"stdin-{hashlib.sha256(data).hexdigest()[:16]}"
    metadata = {"format": fmt}
    yield Document(name, parsed.text, title=parsed.title, source="stdin", metadata=metadata, pages=parsed.pages)


def _matches(relative: str, pattern: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern):
        return True
    # "**/*.txt" should also take the folder's own *.txt, as it does in shells with globstar.
    return pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:])


SkipCallback = Callable[[str, str], None]
"""Told (path, reason) of each entry of a folder left out: ``hidden``, ``unsupported type``, ``too large``."""


def _walk(root: Path, folder: Path, on_skip: SkipCallback) -> Iterator[Path | LoadFailure]:
    """Files under ``folder`` in name order, skipping hidden entries and symlinked folders (which can loop)."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        yield LoadFailure(str(folder), f"cannot list folder: {exc.strerror or exc}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            on_skip(_absolute(entry), "hidden")
            continue
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _walk(root, entry, on_skip)
        elif entry.is_file():
            yield entry


def _load_folder(
    folder: Path, glob: str | None, on_skip: SkipCallback, max_bytes: int | None
) -> Iterator[Document | LoadFailure]:
    for item in _walk(folder, folder, on_skip):
        if isinstance(item, LoadFailure):
            yield item
        elif glob is not None and not _matches(item.relative_to(folder).as_posix(), glob):
            continue
        elif glob is None and item.suffix.lower() not in SUPPORTED_SUFFIXES:
            on_skip(_absolute(item), "unsupported type")
        elif _too_large(item, max_bytes) is not None:
            on_skip(_absolute(item), "too large")
        else:
            yield from _load_one(item)


def _too_large(path: Path, max_bytes: int | None) -> str | None:
    """Why a file is too large to be one document, or None. JSON Lines files stream line by line: any size."""
    if max_bytes is None or path.suffix.lower() == ".jsonl":
        return None
    try:
        size = path.stat().st_size
    except OSError:
        return None  # reading it reports what is wrong
    if size <= max_bytes:
        return None
    return (
        f"too large: {size / 1e6:.1f} MB, over PGSEEK_MAX_FILE_BYTES ({max_bytes / 1e6:.1f} MB); raise it to ingest it"
    )


def _load_one(path: Path, max_bytes: int | None = None) -> Iterator[Document | LoadFailure]:
    problem = _too_large(path, max_bytes)
    if problem is not None:
        yield LoadFailure(str(path), problem)
        return
    if path.suffix.lower() == ".jsonl":
        yield from _iter_jsonl(path)
        return
    try:
        docs = load_file(path)
    except DocumentError as exc:
        yield LoadFailure(str(path), str(exc))
        return
    yield from docs


def load_paths(
    paths: Sequence[str],
    *,
    glob: str | None = None,
    stdin: TextIO | BinaryIO | None = None,
    stdin_id: str | None = None,
    on_skip: SkipCallback | None = None,
    max_file_bytes: int | None = None,
) -> Iterator[Document | LoadFailure]:
    """Yield documents lazily from files, folders and ``-`` (stdin), with a LoadFailure for each one that fails.

    ``glob`` filters files found in folders (matched against the path relative to the folder and against the
    basename); files named explicitly are always loaded. Without ``glob`` folders contribute supported files only.
    stdin's document has the id ``stdin_id``, or ``stdin-`` and the first 16 hex digits of its bytes' SHA-256.
    ``on_skip`` is told of each file or folder a folder's walk leaves out, and why (not of those ``glob`` filters).
    A file over ``max_file_bytes`` (JSON Lines aside) is left out of a folder ("too large") and fails when named.
    """
    for raw in paths:
        if raw == "-":
            yield from _load_stdin(stdin, stdin_id)
            continue
        path = Path(raw)
        if path.is_dir():
            yield from _load_folder(path, glob, on_skip or (lambda _path, _reason: None), max_file_bytes)
        elif not path.exists():
            yield LoadFailure(raw, "no such file or directory")
        elif not path.is_file():
            # Reading a FIFO or a device could wait forever (or never end): only regular files are documents.
            yield LoadFailure(raw, "not a regular file (a FIFO, socket or device): give a file, or - to read stdin")
        else:
            yield from _load_one(path, max_file_bytes)
