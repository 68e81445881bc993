"""PDF text cleanup: lines joined into paragraphs, hyphen-broken words mended, compounds kept, running headers and
page numbers dropped, and the page map (no database needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pgseek.ingest.chunking import with_pages
from pgseek.ingest.loaders import load_bytes, load_file
from pgseek.ingest.pdf import Hyphenation, PdfLine, mend_break, pdf_text
from pgseek.types import Chunk, Document, page_label
from tests.pdfs import pdf_pages

PAGES = [
    [
        "Field Guide",
        "The network connec-",
        "tion is checked first. A well-",
        "known rule says so.",
        "",
        "A second paragraph starts after a gap and,",
        "1",
    ],
    [
        "Field Guide",
        "every well-known router answers the first probe and",
        "goes on with the next one.",
        "2",
    ],
    ["Field Guide", "Non-", "ASCII names keep their hyphen.", "3"],
]


def hyphenation(*words: str, keeps_hyphens: bool = False) -> Hyphenation:
    return Hyphenation(Counter(w.lower() for w in words), keeps_hyphens=keeps_hyphens)


def test_generated_pdf_reads_as_paragraphs_with_pages(tmp_path: Path) -> None:
    path = tmp_path / "guide.pdf"
    path.write_bytes(pdf_pages(PAGES))
    [doc] = load_file(path)
    assert doc.text == (
        "The network connection is checked first. A well-known rule says so.\n\n"
        "A second paragraph starts after a gap and, every well-known router answers the first probe and goes on with "
        "the next one.\n\n"
        "Non-ASCII names keep their hyphen."
    )
    assert len(doc.pages) == 3
    assert doc.text[doc.pages[1] :].startswith("every well-known router")
    assert doc.text[doc.pages[2] :].startswith("Non-ASCII")


def test_uploaded_pdf_keeps_its_page_map() -> None:
    [doc] = load_bytes("guide.pdf", pdf_pages(PAGES))
    assert isinstance(doc, Document)
    assert doc.text[doc.pages[2] :].startswith("Non-ASCII")


def test_other_formats_have_no_pages(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# Note\n\nsome text\n", encoding="utf-8")
    [doc] = load_file(path)
    assert doc.pages == ()


def test_word_broken_by_the_typesetter_is_joined() -> None:
    assert mend_break("connec", "tion", hyphenation()) is False
    assert mend_break("connec", "tion.", hyphenation()) is False


def test_compound_written_elsewhere_keeps_its_hyphen() -> None:
    assert mend_break("well", "known", hyphenation("well-known")) is True
    # ... and a joined word written elsewhere loses it, whatever the habit of the document.
    assert mend_break("recir", "culate", hyphenation("recirculate", keeps_hyphens=True)) is False


def test_hyphen_kept_around_anything_but_letters() -> None:
    assert mend_break("--show-leak", "kinds=definite", hyphenation()) is True  # an option
    assert mend_break("day-to", "day", hyphenation()) is True  # the part before already holds a hyphen
    assert mend_break("Non", "ASCII", hyphenation()) is True  # lower-case then upper-case
    assert mend_break("OP", "TIONAL", hyphenation()) is False  # one upper-case word
    assert mend_break("--", "quiet", hyphenation()) is True


def test_document_that_never_splits_words_keeps_undecided_hyphens() -> None:
    assert mend_break("second", "level", hyphenation(keeps_hyphens=True)) is True
    lines = ["a happens-", "before edge", "and a second-", "level cache", "where happens-before holds"] * 5
    assert Hyphenation.of(lines).keeps_hyphens is True
    assert Hyphenation.of(lines[:5]).keeps_hyphens is False  # one decided break is too few to show a habit
    assert Hyphenation.of(["manip-", "ulation of the", "manipulation"]).keeps_hyphens is False


def test_indented_lines_and_bullets_keep_their_line_breaks() -> None:
    page = [
        PdfLine("Run it as follows:", 700, 10),
        PdfLine("{", 688, 10),
        PdfLine("  fun:malloc", 676, 10),
        PdfLine("}", 664, 10),
        PdfLine("• first item", 652, 10),
        PdfLine("• second item", 640, 10),
    ]
    text, pages = pdf_text([page])
    assert text == "Run it as follows: {\n  fun:malloc\n}\n• first item\n• second item"
    assert pages == (0,)


def test_table_rows_keep_their_line_breaks() -> None:
    page = [PdfLine("123837  system call: 4th argument is optional", 700, 10),
            PdfLine("135425  memcheck should tell you where", 688, 10),
            PdfLine("1. Introduction ........ 1", 676, 10),
            PdfLine("1.1. An Overview ........ 1", 664, 10)]  # fmt: skip
    assert pdf_text([page])[0].count("\n") == 3


def test_paragraph_gaps_are_measured_against_the_documents_line_spacing() -> None:
    # Mostly one-line paragraphs (a reference manual): the common gap is the paragraph gap, not the line spacing.
    page = [PdfLine("--help", 700, 10), PdfLine("Show help.", 677, 10), PdfLine("--version", 654, 10),
            PdfLine("Show the version number of the core, and of", 631, 10), PdfLine("the tool.", 619, 10)]  # fmt: skip
    assert (
        pdf_text([page])[0]
        == "--help\n\nShow help.\n\n--version\n\nShow the version number of the core, and of the tool."
    )


def test_heading_in_another_font_size_is_its_own_paragraph() -> None:
    page = [PdfLine("2.6. Debuginfod", 700, 20), PdfLine("Valgrind can download", 680, 10), PdfLine("files.", 668, 10)]
    assert pdf_text([page])[0] == "2.6. Debuginfod\n\nValgrind can download files."


def test_sentence_ending_at_a_page_break_ends_the_paragraph() -> None:
    pages = [[PdfLine("The end.", 700, 10)], [PdfLine("Next part", 700, 10)], [], [PdfLine("goes on.", 700, 10)]]
    text, starts = pdf_text(pages)
    assert text == "The end.\n\nNext part goes on."
    assert [text[s:] for s in starts] == [text, "Next part goes on.", "goes on.", "goes on."]


def test_running_headers_and_page_numbers_are_dropped() -> None:
    pages = [[PdfLine("Chapter 2: Naming 3"), PdfLine(f"Body {i}."), PdfLine(str(i))] for i in range(3, 7)]
    assert pdf_text(pages)[0] == "Body 3.\n\nBody 4.\n\nBody 5.\n\nBody 6."
    # Two pages are too few to call a repeated first line a running header.
    two = [[PdfLine("Title"), PdfLine("Body.")], [PdfLine("Title"), PdfLine("More.")]]
    assert pdf_text(two)[0] == "Title Body.\n\nTitle More."


def chunk(start: int, end: int) -> Chunk:
    return Chunk(position=0, text="x" * (end - start), start=start, end=end, token_count=1)


def test_chunks_get_the_pages_they_start_and_end_on() -> None:
    pages = (0, 100, 100, 250)  # page 3 is empty: it starts where page 4 does
    located = with_pages([chunk(0, 50), chunk(90, 120), chunk(100, 250), chunk(260, 300)], pages)
    assert [(c.page, c.page_end) for c in located] == [(1, 1), (1, 3), (3, 3), (4, 4)]
    assert with_pages([chunk(0, 5)], ())[0].page is None


def test_page_label() -> None:
    assert page_label(12, 12) == "p. 12"
    assert page_label(12, 13) == "pp. 12–13"
    assert page_label(None, None) == ""
