"""Loaders: every format, odd encodings, damaged input, and batch behaviour (no database needed)."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import random
from pathlib import Path

import pytest

from pgseek.errors import DocumentError
from pgseek.ingest.loaders import SUPPORTED_SUFFIXES, load_file, load_paths
from pgseek.types import Document, LoadFailure
from tests.pdfs import minimal_pdf

FRENCH = "Les élèves étudient à l'école près de la forêt. Ça coûte cher, garçon !\nDeuxième ligne: à bientôt.\n"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def only(docs: list[Document]) -> Document:
    assert len(docs) == 1
    return docs[0]


# --------------------------------------------------------------------------------------------------------- text


def test_txt_utf8_with_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", codecs.BOM_UTF8 + "héllo\r\nwörld\rend\x00!\n".encode())
    doc = only(load_file(path))
    assert doc.text == "héllo\nwörld\nend!\n"
    assert doc.title == "notes"
    assert doc.external_id == path.resolve().as_posix()
    assert doc.source == doc.external_id
    assert doc.metadata == {"path": doc.external_id, "format": "txt"}


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("latin-1", FRENCH),
        ("cp1252", "Smart “quotes” – and — dashes cost €100.\nCafé crème, s'il vous plaît.\n"),
        ("utf-16", FRENCH),
        ("utf-32", FRENCH),
        ("cp1250", "Příliš žluťoučký kůň úpěl ďábelské ódy. Česká republika a Slovensko.\n"),
    ],
)
def test_txt_other_encodings_decode_correctly(tmp_path: Path, encoding: str, text: str) -> None:
    data = text.encode(encoding)  # Python's utf-16/utf-32 codecs write a BOM
    path = write(tmp_path / "legacy.txt", data)
    assert only(load_file(path)).text == text


@pytest.mark.parametrize(
    "data",
    [
        random.Random(7).randbytes(4096),
        bytes(range(1, 32)) * 40,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
        b"plain text with a stray \x00 byte in it",
    ],
    ids=["random", "control-chars", "png", "nul"],
)
def test_binary_garbage_rejected(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DocumentError, match="binary"):
        load_file(write(tmp_path / "blob.txt", data))


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n  ", codecs.BOM_UTF8])
def test_empty_file_rejected(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(DocumentError, match="file is empty"):
        load_file(write(tmp_path / "empty.md", data))


# ------------------------------------------------------------------------------------------------------ markdown


def test_markdown_keeps_text_and_takes_first_heading_as_title(tmp_path: Path) -> None:
    body = "Intro line\n\n```sh\n# not a heading\n```\n\n# Real Title\n\n## Section\n\nBody.\n"
    doc = only(load_file(write(tmp_path / "guide.markdown", body)))
    assert doc.text == body
    assert doc.title == "Real Title"
    assert doc.metadata["format"] == "md"


def test_markdown_without_heading_uses_stem(tmp_path: Path) -> None:
    assert only(load_file(write(tmp_path / "readme.md", "just words\n"))).title == "readme"


# ----------------------------------------------------------------------------------------------------------- html

HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>  The   Page </title>
<style>body { color: red }</style><script>var x = "hidden";</script></head>
<body>
<nav>Menu</nav>
<h1>Main   Heading</h1>
<p>First   paragraph
with <b>bold</b> &amp; entities.</p>
<noscript>enable js</noscript>
<h2>Sub <em>section</em></h2>
<ul><li>one</li><li>two</li></ul>
<div>line a<br>line b</div>
<table><tr><td>c1</td><td>c2</td></tr><tr><td>c3</td><td>c4</td></tr></table>
<pre>  code
    indented</pre>
<template><p>tpl</p></template>
</body></html>
"""


def test_html_headings_blocks_and_title(tmp_path: Path) -> None:
    doc = only(load_file(write(tmp_path / "page.html", HTML)))
    assert doc.title == "The Page"
    assert doc.metadata["format"] == "html"
    assert doc.text == (
        "Menu\n\n# Main Heading\n\nFirst paragraph with bold & entities.\n\n## Sub section\n\n"
        "- one\n- two\n\nline a\nline b\n\nc1 c2\nc3 c4\n\n  code\n    indented"
    )
    for hidden in ("color: red", "hidden", "enable js", "tpl"):
        assert hidden not in doc.text


def test_html_title_falls_back_to_h1_then_stem(tmp_path: Path) -> None:
    doc = only(load_file(write(tmp_path / "a.htm", "<body><h2>Two</h2><h1>One</h1><p>x</p></body>")))
    assert doc.title == "One"
    assert only(load_file(write(tmp_path / "b.htm", "<p>no headings</p>"))).title == "b"


def test_html_meta_charset_respected(tmp_path: Path) -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
    page += "<body><p>Café “crème”</p></body></html>"
    doc = only(load_file(write(tmp_path / "old.html", page.encode("cp1252"))))
    assert doc.text == "Café “crème”"


def test_html_without_visible_text_rejected(tmp_path: Path) -> None:
    page = "<html><head><title>T</title><script>x()</script></head><body>  </body></html>"
    with pytest.raises(DocumentError, match="no visible text"):
        load_file(write(tmp_path / "blank.html", page))


# ------------------------------------------------------------------------------------------------------------ pdf


def test_pdf_text_extracted(tmp_path: Path) -> None:
    doc = only(load_file(write(tmp_path / "hello.pdf", minimal_pdf("Hello pgseek PDF"))))
    assert "Hello pgseek PDF" in doc.text
    assert doc.title == "hello"
    assert doc.metadata["format"] == "pdf"


def test_pdf_title_from_metadata(tmp_path: Path) -> None:
    doc = only(load_file(write(tmp_path / "x.pdf", minimal_pdf("Body text", title="Annual Report"))))
    assert doc.title == "Annual Report"


def test_pdf_random_bytes_rejected(tmp_path: Path) -> None:
    data = b"%PDF-1.4\n" + random.Random(3).randbytes(2048)
    with pytest.raises(DocumentError, match="PDF"):
        load_file(write(tmp_path / "junk.pdf", data))
    with pytest.raises(DocumentError, match="cannot parse PDF"):
        load_file(write(tmp_path / "junk2.pdf", random.Random(4).randbytes(2048)))


def test_pdf_truncated_rejected(tmp_path: Path) -> None:
    data = minimal_pdf("Hello pgseek PDF")
    cut = data[: data.index(b"BT /F1")]
    with pytest.raises(DocumentError, match="PDF"):
        load_file(write(tmp_path / "cut.pdf", cut))


def test_pdf_without_text_rejected(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no extractable text"):
        load_file(write(tmp_path / "blank.pdf", minimal_pdf("")))


# ---------------------------------------------------------------------------------------------------------- jsonl


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "d1", "title": "One", "text": "first", "metadata": {"lang": "en"}}),
        "",
        json.dumps({"id": 2, "text": "second"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"_id": "d3", "title": "no text"}),
        json.dumps({"_id": "d4", "text": 5}),
        json.dumps({"_id": "d5", "text": "x", "metadata": [1]}),
        json.dumps({"_id": "d6", "text": "   "}),
        json.dumps({"text": "no id"}),
        json.dumps({"_id": "d1", "text": "again"}),
        json.dumps({"_id": "d7", "title": "", "text": "seventh\x00"}),
    ]
    path = write(tmp_path / "corpus.jsonl", "\n".join(lines) + "\n")
    items = list(load_paths([str(path)]))
    docs = [i for i in items if isinstance(i, Document)]
    failures = {i.path: i.error for i in items if isinstance(i, LoadFailure)}
    assert [(d.external_id, d.title, d.text) for d in docs] == [
        ("d1", "One", "first"),
        ("2", None, "second"),
        ("d7", None, "seventh"),
    ]
    assert docs[0].metadata == {"lang": "en"}
    assert docs[0].source == path.resolve().as_posix()
    assert failures[f"{path}:4"].startswith("line 4: invalid JSON")
    assert failures[f"{path}:5"] == "line 5: expected a JSON object, got list"
    assert failures[f"{path}:6"] == "line 6: field 'text' is missing"
    assert failures[f"{path}:7"] == "line 7: field 'text' must be a string"
    assert failures[f"{path}:8"] == "line 8: field 'metadata' must be an object"
    assert failures[f"{path}:9"] == "line 9: field 'text' is empty"
    assert "field 'id' is missing" in failures[f"{path}:10"]
    assert "duplicate id 'd1'" in failures[f"{path}:11"]
    assert len(failures) == 8


def test_load_file_jsonl_raises_on_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", '{"_id": "a", "text": "ok"}\n{"_id": "b"}\n')
    with pytest.raises(DocumentError, match="line 2: field 'text' is missing"):
        load_file(path)
    good = write(tmp_path / "g.jsonl", '{"_id": "a", "text": "ok"}\n')
    assert [d.external_id for d in load_file(good)] == ["a"]


def test_empty_jsonl_reported(tmp_path: Path) -> None:
    items = list(load_paths([str(write(tmp_path / "e.jsonl", "\n\n"))]))
    assert items == [LoadFailure(str(tmp_path / "e.jsonl"), "file is empty (no JSON lines)")]


# -------------------------------------------------------------------------------------------------------- batches


def make_tree(root: Path) -> None:
    write(root / "b.txt", "bee")
    write(root / "a.md", "# A\n\nay")
    write(root / "sub" / "c.txt", "sea")
    write(root / "sub" / "deeper" / "d.html", "<p>dee</p>")
    write(root / "sub" / "skip.docx", "nope")
    write(root / ".hidden.txt", "secret")
    write(root / ".git" / "e.txt", "git internals")
    write(root / "data.csv", "x,y")


def texts(items: list[Document | LoadFailure]) -> list[str]:
    assert all(isinstance(i, Document) for i in items), items
    return [i.text for i in items if isinstance(i, Document)]


def test_folder_recursion_sorted_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert texts(list(load_paths([str(tmp_path)]))) == ["# A\n\nay", "bee", "sea", "dee"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("*.txt", ["bee", "sea"]), ("**/*.txt", ["bee", "sea"]), ("sub/*.txt", ["sea"]), ("*.html", ["dee"])],
)
def test_folder_glob(tmp_path: Path, pattern: str, expected: list[str]) -> None:
    make_tree(tmp_path)
    assert texts(list(load_paths([str(tmp_path)], glob=pattern))) == expected


def test_missing_path_and_unsupported_suffix_keep_going(tmp_path: Path) -> None:
    good = write(tmp_path / "ok.txt", "fine")
    docx = write(tmp_path / "report.docx", "x")
    missing = str(tmp_path / "nope.txt")
    items = list(load_paths([missing, str(docx), str(good)]))
    assert items[0] == LoadFailure(missing, "no such file or directory")
    assert isinstance(items[1], LoadFailure) and items[1].path == str(docx)
    assert "unsupported file type .docx" in items[1].error
    assert all(suffix in items[1].error for suffix in SUPPORTED_SUFFIXES)
    assert isinstance(items[2], Document) and items[2].text == "fine"


def test_bad_file_in_folder_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    write(tmp_path / "a.pdf", b"garbage")
    write(tmp_path / "b.txt", "still loaded")
    items = list(load_paths([str(tmp_path)]))
    assert isinstance(items[0], LoadFailure) and items[0].path == str(tmp_path / "a.pdf")
    assert isinstance(items[1], Document) and items[1].text == "still loaded"


def test_load_paths_is_lazy(tmp_path: Path) -> None:
    stream = load_paths([str(tmp_path / "missing")])
    write(tmp_path / "missing", "created after the call")  # not read until iterated
    item = next(stream)
    assert isinstance(item, LoadFailure) and "unsupported" in item.error


def test_stdin_bytes_markdown(tmp_path: Path) -> None:
    items = list(load_paths(["-"], stdin=io.BytesIO("# Piped\n\nCafé\r\n".encode("latin-1"))))
    name = "stdin-" + hashlib.sha256("# Piped\n\nCafé\r\n".encode("latin-1")).hexdigest()[:16]
    assert items == [Document(name, "# Piped\n\nCafé\n", title="Piped", source="stdin", metadata={"format": "md"})]


def test_stdin_documents_are_named_by_their_content_or_the_id_given() -> None:
    first, second, again = (list(load_paths(["-"], stdin=io.BytesIO(t))) for t in (b"one", b"two", b"one"))
    assert isinstance(first[0], Document) and isinstance(second[0], Document) and isinstance(again[0], Document)
    assert first[0].external_id.startswith("stdin-") and len(first[0].external_id) == len("stdin-") + 16
    assert first[0].external_id != second[0].external_id and first[0].external_id == again[0].external_id
    named = list(load_paths(["-"], stdin=io.BytesIO(b"one"), stdin_id="notes/today"))
    assert isinstance(named[0], Document) and named[0].external_id == "notes/today"


def test_stdin_text_html_and_empty() -> None:
    html = list(load_paths(["-"], stdin=io.StringIO("<!DOCTYPE html><h1>Hi</h1><p>there</p>")))
    assert isinstance(html[0], Document) and html[0].text == "# Hi\n\nthere"
    assert html[0].metadata == {"format": "html"}
    assert list(load_paths(["-"], stdin=io.BytesIO(b""))) == [LoadFailure("-", "file is empty")]


def test_html_lists_with_breaks_and_svg_title(tmp_path: Path) -> None:
    page = "<html><body><svg><title>icon</title></svg>"
    page += "<ul><li><br/>first<br/>cont</li><li><p>second</p></li></ul></body>"
    doc = only(load_file(write(tmp_path / "l.html", page)))
    assert doc.text == "- first\ncont\n\n- second"
    assert doc.title == "l"


def test_hostile_jsonl_lines_are_one_failure_each(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    lines = [
        json.dumps({"id": "ok1", "text": "first"}),
        '{"id": "s", "text": "broken \\ud800"}',
        '{"id": "t", "title": "\\udfff", "text": "x"}',
        '{"id": "m", "text": "x", "metadata": {"\\ud800": 1}}',
        deep,
        '{"id": "d", "text": "x", "metadata": {"a": ' + "[" * 40 + "]" * 40 + "}}",
        '{"id": "n", "text": "x", "metadata": {"a": NaN}}',
        '{"id": "i", "text": "x", "metadata": {"a": -Infinity}}',
        '{"id": "b", "text": "x", "metadata": {"a": ' + "9" * 5000 + "}}",
        '{"id": "b2", "text": "x", "metadata": {"a": ' + "9" * 30 + "}}",
        '{"id": "..", "text": "x"}',
        '{"id": "x/../y", "text": "x"}',
        '{"id": "%2E", "text": "x"}',
        json.dumps({"id": "ok2", "text": "last"}),
    ]
    path = write(tmp_path / "hostile.jsonl", "\n".join(lines))
    items = list(load_paths([str(path)]))
    assert [i.external_id for i in items if isinstance(i, Document)] == ["ok1", "ok2"]
    failures = {int(i.path.rsplit(":", 1)[1]): i.error for i in items if isinstance(i, LoadFailure)}
    assert sorted(failures) == list(range(2, 14))
    expected = {
        2: "field 'text' contains a lone surrogate",
        3: "field 'title' contains a lone surrogate",
        4: "field 'metadata' contains a lone surrogate",
        5: "nested too deep",
        6: "field 'metadata' is nested too deep",
        7: "NaN or infinite",
        8: "NaN or infinite",
        9: "invalid JSON",
        10: "beyond 64 bits",
        11: "dot segment",
        12: "dot segment",
        13: "dot segment",
    }
    for line, part in expected.items():
        assert part in failures[line], (line, failures[line])


def test_a_folder_walk_names_what_it_leaves_out(tmp_path: Path) -> None:
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.md").write_text("# hidden inside")
    (tmp_path / "keep.md").write_text("# Kept\n\nText.")
    (tmp_path / "slides.pptx").write_bytes(b"PK")
    skipped: list[tuple[str, str]] = []
    items = list(load_paths([str(tmp_path)], on_skip=lambda path, reason: skipped.append((Path(path).name, reason))))
    assert [Path(i.external_id).name for i in items if isinstance(i, Document)] == ["keep.md"]
    assert skipped == [(".cache", "hidden"), ("slides.pptx", "unsupported type")]
    skipped.clear()
    list(load_paths([str(tmp_path)], glob="*.pptx", on_skip=lambda path, reason: skipped.append((path, reason))))
    assert skipped == [(str((tmp_path / ".cache").resolve()), "hidden")]  # what --glob filters out is not "skipped"
