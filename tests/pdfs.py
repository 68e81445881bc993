"""PDFs built by hand for the tests: Helvetica text, one line per entry, with a correct xref table."""

from __future__ import annotations

LEADING = 14
"""Points between two lines of a paragraph; an empty entry adds as much again (a paragraph gap)."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[str]) -> bytes:
    ops = ["BT /F1 12 Tf 72 720 Td"]
    first = True
    for line in lines:
        if not line:
            ops.append(f"0 -{LEADING} Td")
            continue
        if not first:
            ops.append(f"0 -{LEADING} Td")
        ops.append(f"({_escape(line)}) Tj")
        first = False
    ops.append("ET")
    return " ".join(ops).encode("latin-1")


def pdf_pages(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF with one page per list of lines; an empty string leaves a paragraph gap."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        stream = _content(lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R"
            " /Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    if title is not None:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def minimal_pdf(text: str, *, title: str | None = None) -> bytes:
    """A one-page PDF with ``text`` on one line."""
    return pdf_pages([[text] if text else []], title=title)
