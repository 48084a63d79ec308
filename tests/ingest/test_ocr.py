"""OCR (ingest.ocr): scanned PDFs, mixed PDFs and images, read by Tesseract, end to end.

The scans are made the way real ones are: a text PDF is rendered to page images with
PDFium, and the images are wrapped as an image-only PDF (Pillow), so the text the test
searches for exists only as pixels. Tesseract is Debian's; the session installs it with
apt where it can, as a new user's setup does.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from debian import apt_install
from PIL import Image

from core import IngestError, Principal, Settings, configured_embedding, make_engine
from ingest import ocr
from ingest.parsing import parse
from ingest.pdf_tables import Word
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.report import build_report
from ingest.sources import FolderSource
from retrieval import EdgeIndex, Searcher, make_embedder

#: One line of a generated PDF page: (font size in points, text), as conftest's make_pdf takes.
PdfLine = tuple[float, str]
PdfBuilder = Callable[..., Path]

FINDING = "The Lisbon warehouse flooded in March and forty pallets of ceramic tiles were lost."
ACL = ["group:staff"]


@pytest.fixture(scope="session")
def tesseract() -> None:
    """Tesseract with its English pack, installed with apt on first use where possible."""
    if not ocr.available():
        reason = apt_install("tesseract-ocr", "tesseract-ocr-eng")
        ocr.tesseract_languages.cache_clear()
        if not ocr.available():
            pytest.skip(f"OCR tests need Tesseract: {reason or ocr.missing()}")


@pytest.fixture
def no_ocr(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without Tesseract."""
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    ocr.tesseract_languages.cache_clear()
    yield
    ocr.tesseract_languages.cache_clear()


def pages_text() -> list[list[PdfLine]]:
    """Three pages, each long enough to be chunks of its own."""
    filler = [
        "Every site manager files a short note on each incident within two working days.",
        "The facilities team reviews the notes each month and assigns an owner to each.",
        "Costs are booked against the site budget unless the insurer accepts the claim.",
        "Photographs and invoices are kept with the note in the shared facilities folder.",
        "Repeat incidents at the same site are escalated to the regional director.",
        "The log is audited once a year by the internal audit team of the group.",
        "Staff who notice a hazard report it at once to the site manager on duty.",
    ]
    return [
        [
            (16, "Facilities Incident Log"),
            (11, "The Porto office moved to a larger floor."),
            *((11, f) for f in filler),
        ],
        [
            (16, "Storage Incidents"),
            (11, FINDING),
            (11, "Insurance covered most of the loss."),
            *((11, f) for f in filler),
        ],
        [
            (16, "Follow-up"),
            (11, "Drains were fitted in every ground-floor store room."),
            *((11, f) for f in filler),
        ],
    ]


def scan(text_pdf: Path, out: Path, pages: Sequence[int] | None = None, dpi: int = 200) -> Path:
    """An image-only PDF of ``text_pdf``'s pages (all, or ``pages``, 1-based)."""
    src = pypdfium2.PdfDocument(text_pdf)
    numbers = pages or range(1, len(src) + 1)
    images = [src[n - 1].render(scale=dpi / 72, grayscale=True).to_pil() for n in numbers]
    src.close()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out


def mixed(text_pdf: Path, scanned_page: int, out: Path) -> Path:
    """``text_pdf`` with page ``scanned_page`` replaced by its scan."""
    one = scan(text_pdf, out.with_suffix(".scan.pdf"), [scanned_page])
    with pikepdf.open(text_pdf) as pdf, pikepdf.open(one) as image:
        pdf.pages[scanned_page - 1] = image.pages[0]
        pdf.save(out)
    return out


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def page_texts(doc: object) -> dict[int, str]:
    texts: dict[int, str] = {}
    for el in doc.elements:  # type: ignore[attr-defined]
        texts[el.page_number] = texts.get(el.page_number, "") + " " + el.text
    return texts


# --- pure functions ------------------------------------------------------------------------


def test_words_from_tesseract_tsv_take_their_lines_height_and_scale() -> None:
    tsv = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
        "4\t1\t1\t1\t1\t0\t100\t200\t400\t40\t-1\t\n"
        "5\t1\t1\t1\t1\t1\t100\t205\t80\t30\t96.1\tServices\n"
        "5\t1\t1\t1\t1\t2\t300\t200\t100\t40\t95.0\t21,213\n"
        "5\t1\t1\t1\t1\t3\t420\t200\t10\t40\t12.0\t|\n"
    )
    words = ocr.words_from_tsv(tsv, scale=2.0)
    assert words == [
        Word("Services", 50, 102.5, 90, 117.5, 20),
        Word("21,213", 150, 100, 200, 120, 20),
    ]  # the low-confidence "|" (a ruling line read as a letter) is dropped


def test_a_huge_page_renders_within_the_pixel_budget() -> None:
    assert ocr.render_scale(612, 792) == pytest.approx(300 / 72)
    scale = ocr.render_scale(14_400, 14_400)  # a 200-inch page
    assert (14_400 * scale) ** 2 <= ocr.MAX_PIXELS * 1.001


# --- parsing -------------------------------------------------------------------------------


def test_scanned_pdf_is_read_by_ocr_page_by_page(
    tesseract: None, make_pdf: PdfBuilder, tmp_path: Path
) -> None:
    text = make_pdf("log.pdf", pages_text())
    doc = parse(scan(text, tmp_path / "scanned.pdf"))
    assert doc.ocr_pages == [1, 2, 3]
    assert doc.quality is not None
    assert (doc.quality.pages_ocr, doc.quality.ocr_pages) == (3, [1, 2, 3])
    texts = page_texts(doc)
    assert "forty pallets of ceramic tiles" in texts[2]
    assert "Porto office" in texts[1]
    assert not any("not OCRed" in w for w in doc.warnings)


def test_a_mixed_pdf_ocrs_only_its_scanned_page(
    tesseract: None, make_pdf: PdfBuilder, tmp_path: Path
) -> None:
    text = make_pdf("log.pdf", pages_text())
    doc = parse(mixed(text, 2, tmp_path / "mixed.pdf"))
    assert doc.pages_without_text == [2]
    assert doc.ocr_pages == [2]
    assert "forty pallets of ceramic tiles" in page_texts(doc)[2]
    assert doc.strategy == "pdfium"


def test_a_scanned_statement_comes_back_as_a_table(tesseract: None, tmp_path: Path) -> None:
    from test_pdf_layout import statement, write_pages

    text = write_pages(tmp_path / "statement.pdf", [statement()])
    doc = parse(scan(text, tmp_path / "statement-scan.pdf", dpi=300))
    (table,) = [el for el in doc.elements if el.type == "Table"]
    assert "Services | 21,213 | 19,604" in table.text.splitlines()


def test_png_and_multi_frame_tiff_are_read(
    tesseract: None, make_pdf: PdfBuilder, tmp_path: Path
) -> None:
    text = make_pdf("log.pdf", pages_text())
    src = pypdfium2.PdfDocument(text)
    frames = [src[n].render(scale=200 / 72, grayscale=True).to_pil() for n in range(3)]
    src.close()
    png, tiff = io.BytesIO(), io.BytesIO()
    # (a copy: Pillow keeps the PNG encoder's settings on the image, and TIFF then trips on them)
    frames[1].copy().save(png, "PNG", dpi=(200, 200))
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:], dpi=(200, 200))

    one = parse(png.getvalue(), filename="photo.png")
    assert one.file_type == "png"
    assert "forty pallets of ceramic tiles" in page_texts(one)[1]
    assert one.ocr_pages == [1]

    many = parse(tiff.getvalue(), filename="fax.tiff")
    assert many.page_count == 3
    assert many.ocr_pages == [1, 2, 3]
    assert "Drains were fitted" in page_texts(many)[3]


def test_fast_strategy_never_ocrs(tesseract: None, make_pdf: PdfBuilder, tmp_path: Path) -> None:
    text = make_pdf("log.pdf", pages_text())
    with pytest.raises(IngestError, match=r"no text layer \(scanned\?\) and OCR is off"):
        parse(scan(text, tmp_path / "scanned.pdf"), strategy="fast")
    doc = parse(mixed(text, 2, tmp_path / "mixed.pdf"), strategy="fast")
    assert doc.ocr_pages == []
    assert any("not OCRed: OCR is off" in w for w in doc.warnings)


def test_without_tesseract_the_error_says_how_to_install_it(
    no_ocr: None, make_pdf: PdfBuilder, tmp_path: Path
) -> None:
    text = make_pdf("log.pdf", pages_text())
    with pytest.raises(IngestError, match="apt-get install tesseract-ocr tesseract-ocr-eng"):
        parse(scan(text, tmp_path / "scanned.pdf"))
    with pytest.raises(IngestError, match="image needs OCR: OCR is not installed"):
        parse(png_bytes(Image.new("L", (50, 50), 255)), filename="x.png")
    doc = parse(mixed(text, 2, tmp_path / "mixed.pdf"))
    assert any("not OCRed: OCR is not installed (install Tesseract" in w for w in doc.warnings)


def test_an_undecodable_image_fails_alone_with_a_reason(tesseract: None) -> None:
    junk = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with pytest.raises(IngestError, match=r"not a readable image|could not be decoded"):
        parse(junk, filename="broken.png")


# --- end to end ------------------------------------------------------------------------------


def test_a_scanned_pdf_is_found_by_search_and_cites_its_page(
    tesseract: None, make_pdf: PdfBuilder, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    text = make_pdf("log.pdf", pages_text())
    scan(text, folder / "incident-log-scan.pdf")
    settings = Settings(data_dir=tmp_path / "data", ingest={"workers": 1, "timeout_s": 300})
    embedder = make_embedder(settings, configured_embedding(settings))
    index = EdgeIndex(settings.index_path, settings.index.collection)
    index.ensure_collection(embedder.dim)
    registry = Registry(make_engine(settings))
    registry.create_schema()
    try:
        with Ingestor(settings, index=index, registry=registry, embedder=embedder) as ingestor:
            summary = ingestor.run(list(FolderSource(folder, "acme", ACL)))
        (outcome,) = summary.by_status("indexed")
        (row,) = registry.documents()
        assert row.quality is not None
        assert row.quality["ocr_pages"] == [1, 2, 3]
        assert build_report([row], lambda doc_id: [], len).ocr == [(row.source_uri, [1, 2, 3])]
        searcher = Searcher(index, embedder, settings.search)
        result = searcher.search(
            "which warehouse flooded and what was lost?",
            Principal(user="ana", groups=["staff"], tenant="acme"),
        )
        top = result.chunks[0]
        assert "ceramic tiles" in top.text
        assert (top.page_start, top.page_end) == (2, 2)
        assert outcome.pages == 3
    finally:
        index.close()
