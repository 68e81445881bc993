"""PDFs built by hand for the tests: Helvetica text, one line per entry, with a correct xref table."""

from __future__ import annotations

import textwrap

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


TIDES = (
    "Tide tables give the height of the water at the harbour mouth for every hour of the day. The pilot reads "
    "them before each departure, because the channel is shallow at low water and a loaded freighter needs at "
    "least nine metres under its keel. Spring tides follow the new and the full moon and raise the highest "
    "water of the month; neap tides fall between them. When the tables and the gauge on the pier disagree, "
    "the gauge wins, since wind and air pressure can hold the sea back for hours. Dredgers work the channel every "
    "summer, and after each campaign the survey boat sounds the bottom again and the new depths go into the charts."
)
LIGHTHOUSE = (
    "The lighthouse keeper trims the wick every evening and polishes the Fresnel lens, whose rings of prisms bend "
    "the lamp's light into one narrow beam that sailors can see forty kilometres out at sea. In fog the keeper "
    "starts the horn, which sounds twice a minute until the fog lifts. Every night the keeper writes the weather, "
    "the passing ships and the hours of the lamp in the logbook, which the harbour master reads each Monday. Spare "
    "bulbs, paraffin and a second clockwork motor for the turning lens are kept in the storeroom at the foot of the "
    "tower."
)
ESPRESSO = (
    "The harbour cafe pulls espresso by forcing nearly boiling water through finely ground coffee at nine bars of "
    "pressure. A shot of espresso takes about twenty-five seconds to pull. The barista checks the connec-tion "
    "between the portafilter and the group head before every shot, because a leaking seal lets the pressure drop "
    "and the coffee turns sour and thin. Fishermen drink it standing at the counter before dawn, and the ferry "
    "crews come in for a second cup between the morning crossings, when the grinder runs without a pause."
)


def wrapped(paragraph: str, width: int = 72) -> list[str]:
    """A paragraph as printed lines; ``connec-tion`` is printed as a word broken at a line's end."""
    before, broken, after = paragraph.partition("connec-tion")
    if not broken:
        return textwrap.wrap(paragraph, width, break_on_hyphens=False)
    return [*wrapped(before + "connec-", width), *wrapped("tion" + after, width)]


def harbour_manual() -> bytes:
    """Three pages: tides (page 1), the lighthouse (starting on page 1, going on to page 2), espresso (page 3),
    with a running header and page numbers."""
    lighthouse = wrapped(LIGHTHOUSE)
    return pdf_pages(
        [
            ["Harbour Manual", *wrapped(TIDES), "", *lighthouse[:2], "1"],
            ["Harbour Manual", *lighthouse[2:], "2"],
            ["Harbour Manual", *wrapped(ESPRESSO), "3"],
        ],
        title="Harbour Manual",
    )
