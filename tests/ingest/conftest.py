"""Fixtures that generate small documents of every supported format in a temporary folder.

Nothing here is checked in: each document is built by the library that writes its
format (python-docx, python-pptx, openpyxl, the email stdlib, pikepdf for PDFs with a
real text layer), so the tests exercise the same parsers real uploads go through.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name
from pptx import Presentation
from pptx.util import Inches

from ingest.parsing import ParsedDocument, parse

#: One line of a generated PDF page: (font size in points, text).
PdfLine = tuple[float, str]
PdfBuilder = Callable[..., Path]

ACME_TEXT = (
    "Revenue grew by eleven percent compared with the prior quarter, driven by strong "
    "demand for cloud storage in Europe and North America."
)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(
    path: Path,
    pages: Sequence[Sequence[PdfLine]],
    *,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
    image_only: bool = False,
) -> Path:
    """Write a PDF whose pages carry ``pages`` as real text (Helvetica), top to bottom.

    The first line of a page sits in the top margin and the last in the bottom margin,
    where running headers and footers live; the lines between are spaced so that
    pdfminer keeps them as separate text boxes. ``image_only`` draws a grey image
    instead of text, like a scan without OCR.
    """
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name.Helvetica,
            Encoding=Name.WinAnsiEncoding,
        )
    )
    for lines in pages:
        resources = Dictionary(Font=Dictionary(F1=font))
        if image_only:
            image = pdf.make_stream(
                bytes([180]) * (64 * 64),
                Type=Name.XObject,
                Subtype=Name.Image,
                Width=64,
                Height=64,
                ColorSpace=Name.DeviceGray,
                BitsPerComponent=8,
            )
            resources = Dictionary(XObject=Dictionary(Im1=image))
            ops = ["q 468 0 0 648 72 72 cm /Im1 Do Q"]
        else:
            ops = []
            last = len(lines) - 1
            y = 700.0
            for i, (size, text) in enumerate(lines):
                if i == 0 and last > 0:
                    at = 770.0  # top margin: running header
                elif i == last and last > 0:
                    at = 30.0  # bottom margin: running footer
                else:
                    at = y
                    y -= size * 3
                ops.append(f"BT /F1 {size:g} Tf 72 {at:g} Td ({_pdf_escape(text)}) Tj ET")
        content = pdf.make_stream("\n".join(ops).encode("cp1252"))
        page = Dictionary(
            Type=Name.Page,
            MediaBox=Array([0, 0, 612, 792]),
            Contents=content,
            Resources=resources,
        )
        pdf.pages.append(pikepdf.Page(page))
    if title:
        pdf.docinfo[Name.Title] = title
    encryption: Any = False
    if user_password is not None or owner_password is not None:
        encryption = pikepdf.Encryption(user=user_password or "", owner=owner_password or "")
    pdf.save(path, encryption=encryption)
    return path


def report_pages(n: int = 4) -> list[list[PdfLine]]:
    """Pages of a small report with a running header and a "Page i of n" footer."""
    regions = ["Europe", "Asia", "Americas", "Africa", "Oceania"]
    pages: list[list[PdfLine]] = []
    for i in range(1, n + 1):
        pages.append(
            [
                (9, "ACME Corp  Quarterly Report Q3"),
                (16, f"{regions[(i - 1) % len(regions)]} Results"),
                (11, f"Segment {i} revenue grew by {i * 3} percent compared with last year."),
                (11, "Operating expenses stayed flat while the company kept hiring."),
                (9, f"Page {i} of {n}"),
            ]
        )
    return pages


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one small document per supported format (built once per session)."""
    root = tmp_path_factory.mktemp("docs")
    _write_docx(root / "report.docx")
    _write_pptx(root / "deck.pptx")
    _write_xlsx(root / "figures.xlsx")
    _write_eml(root / "mail.eml")
    write_pdf(root / "report.pdf", report_pages(4), title="ACME Quarterly Report")
    (root / "notes.txt").write_text(
        "Quarterly notes\n\n" + ACME_TEXT + "\n\nHiring continued in every region this quarter.\n",
        encoding="utf-8",
    )
    (root / "readme.md").write_text(
        "# Storage Service\n\nThe storage service keeps customer files in three regions.\n\n"
        "## Pricing\n\nPrices are listed per gigabyte and month.\n\n"
        "| Tier | Price |\n|------|-------|\n| Hot | 0.02 |\n| Cold | 0.004 |\n\n"
        "- replication across zones\n- encryption at rest\n",
        encoding="utf-8",
    )
    (root / "page.html").write_text(
        "<html><head><title>Storage Pricing</title></head><body>"
        "<h1>Storage Pricing</h1><p>The storage service keeps customer files in three regions."
        "</p><h2>Tiers</h2><table><tr><th>Tier</th><th>Price</th></tr>"
        "<tr><td>Hot</td><td>0.02</td></tr><tr><td>Cold</td><td>0.004</td></tr></table>"
        "<ul><li>replication across zones</li><li>encryption at rest</li></ul></body></html>",
        encoding="utf-8",
    )
    (root / "staff.tsv").write_text(
        "team\tpeople\tsite\nstorage\t42\tDublin\ncompute\t57\tOslo\n", encoding="utf-8"
    )
    (root / "prices.csv").write_text(
        "region,tier,price\neu-west,hot,0.020\neu-west,cold,0.004\nus-east,hot,0.018\n",
        encoding="utf-8",
    )
    return root


def _write_docx(path: Path) -> None:
    doc = docx.Document()
    doc.core_properties.title = "ACME Annual Summary"
    doc.sections[0].header.paragraphs[0].text = "ACME Confidential"
    doc.sections[0].footer.paragraphs[0].text = "Internal use only"
    doc.add_heading("ACME Annual Summary", level=1)
    doc.add_paragraph(ACME_TEXT)
    doc.add_heading("Regional Results", level=2)
    doc.add_paragraph("Europe grew fastest, followed by North America and Asia.")
    table = doc.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [("Region", "Revenue", "Growth"), ("Europe", "120", "14%"), ("Asia", "80", "6%")]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    doc.add_paragraph("Replication across zones", style="List Bullet")
    doc.add_paragraph("Encryption at rest", style="List Bullet")
    doc.save(str(path))


def _write_pptx(path: Path) -> None:
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[0])
    slide.shapes.title.text = "Storage Roadmap"
    slide.placeholders[1].text = "Plans for the next four quarters"
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Priorities"
    body = slide.placeholders[1].text_frame
    body.text = "Cut cold storage prices by a third"
    body.add_paragraph().text = "Open a region in South America"
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Targets"
    shape = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate([("Quarter", "Regions"), ("Q1", "4"), ("Q2", "5")]):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    prs.save(str(path))


def _write_xlsx(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Revenue"
    for row in [("Region", "Q1", "Q2"), ("Europe", 120, 131), ("Asia", 80, 84)]:
        ws.append(row)
    ws2 = wb.create_sheet("Headcount")
    for row2 in [("Team", "People"), ("Storage", 42), ("Compute", 57)]:
        ws2.append(row2)
    wb.save(str(path))


def _write_eml(path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "Ana Lopez <ana@example.com>"
    msg["To"] = "ops@example.com"
    msg["Subject"] = "Incident 4711: storage latency"
    msg["Date"] = "Tue, 03 Oct 2023 10:15:00 +0000"
    msg.set_content(
        "Hello team,\n\nLatency on the cold storage tier rose to four seconds between 09:00 "
        "and 09:40 UTC. The cause was a misconfigured cache node.\n\nRegards,\nAna\n"
    )
    path.write_bytes(bytes(msg))


@pytest.fixture
def make_pdf(tmp_path: Path) -> PdfBuilder:
    """Build a PDF in ``tmp_path``: ``make_pdf(name, pages, **options)`` (see ``write_pdf``);
    ``pages`` may be a number, for that many pages of the small report."""

    def build(name: str, pages: Sequence[Sequence[PdfLine]] | int, **options: Any) -> Path:
        lines = report_pages(pages) if isinstance(pages, int) else pages
        return write_pdf(tmp_path / name, lines, **options)

    return build


#: The two MSFT 10-Qs pypdf refuses (LimitReachedError, DESIGN.md) and their page counts.
MSFT_FILINGS = {"2023 Q1 MSFT.pdf": 72, "2023 Q2 MSFT.pdf": 74}
_msft_cache: dict[str, ParsedDocument] = {}


@pytest.fixture
def msft_docs(sec_dir: Path) -> dict[str, ParsedDocument]:
    """The two big MSFT filings, parsed once per session in two processes (~20 s)."""
    if not _msft_cache:
        paths = [sec_dir / "docs" / name for name in MSFT_FILINGS]
        context = multiprocessing.get_context("spawn")  # no fork of a threaded test process
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            _msft_cache.update(zip(MSFT_FILINGS, pool.map(parse, paths), strict=True))
    return _msft_cache


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Refuse connections to anything but loopback; yields the addresses that were refused."""
    refused: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1"):
            refused.append(address)
            raise OSError(f"network access blocked in tests: {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused
