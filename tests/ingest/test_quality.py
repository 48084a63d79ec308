"""Parse quality: the signals of a bad extraction, the re-read with the other PDF parser,
and the warning that reaches the registry, the corpus report and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest import partitioners
from ingest.parsing import ParsedElement, parse
from ingest.quality import LONG_WORD_LETTERS, assess, is_long_word
from ingest.registry import DocState, DocumentRow
from ingest.report import build_report
from tests.api.apikit import new_key, running_app, settings_for
from tests.ingest.conftest import PdfBuilder, PdfLine

PROSE = (
    "Hepatitis C virus infection is a major cause of chronic hepatitis, cirrhosis and liver "
    "cancer. Patients in this study receive the study drug once daily for twelve weeks and "
    "are followed for twenty four weeks after the last dose, with visits every four weeks."
)
GLUED = "HepatitisCvirus(HCV)infectionisamajorcauseofchronichepatitis and cirrhosis"


def el(text: str, kind: str = "NarrativeText", page: int | None = 1) -> ParsedElement:
    return ParsedElement(type=kind, text=text, page_number=page)


def test_normal_prose_is_ok() -> None:
    quality = assess([el(PROSE, page=p) for p in (1, 2, 3)], page_count=3)
    assert quality.words > 100
    assert quality.long_words == 0
    assert not quality.suspect
    assert quality.verdict == "ok"
    assert quality.as_dict()["verdict"] == "ok"


def glue(text: str, n: int) -> str:
    """``text`` with the spaces inside each run of ``n`` words lost, as pdfminer lost them."""
    words = text.split()
    return " ".join("".join(words[i : i + n]) for i in range(0, len(words), n))


def test_glued_words_are_flagged() -> None:
    quality = assess([el(glue(PROSE, 5)), el(GLUED), el(PROSE)], page_count=1)
    assert quality.long_words >= 5
    assert quality.suspect
    assert "letters long (glued?)" in quality.verdict
    assert quality.verdict.startswith("suspect: ")


def test_table_heavy_document_is_ok() -> None:
    rows = " ".join(f"Segment {i} 1,234,567 2,345,678 (12.5)% $ 98,765" for i in range(40))
    elements = [el("Income statement", "Title"), el(rows, "Table"), el(PROSE)]
    quality = assess(elements * 3, page_count=1)
    assert quality.tables == 3
    assert not quality.suspect, quality.reasons


def test_replacement_and_private_use_characters_are_flagged() -> None:
    broken = "".join(ch if i % 9 else "\ufffd" for i, ch in enumerate(PROSE))
    broken += " \ue012\ue013 (cid:42)(cid:7)"
    quality = assess([el(broken)], page_count=1)
    assert quality.odd_chars > 20
    assert quality.suspect
    assert "unmapped glyphs" in quality.verdict
    assert not assess([el(PROSE + " \ufffd")]).suspect  # one stray character is harmless


def test_urls_emails_and_compounds_are_not_glued_words() -> None:
    long_url = "https://example.com/a/verylongpathnamewithoutanyspacesatall"
    assert not is_long_word(long_url)
    assert not is_long_word("firstname.lastnameofsomebody@examplecompany.com")
    assert not is_long_word("state-of-the-art-manufacturing-capabilities")
    assert is_long_word("(" + "a" * LONG_WORD_LETTERS + "),")
    assert not is_long_word("a" * (LONG_WORD_LETTERS - 1))


def test_empty_pages_and_too_few_words() -> None:
    quality = assess([el(PROSE, page=1)], page_count=4)
    assert quality.empty_pages == [2, 3, 4]
    assert "3 of 4 pages produced no text" in quality.verdict
    assert not assess([el(GLUED)], page_count=1).suspect  # 5 words: too few to judge


# --- parse(): re-read and warn ----------------------------------------------------------


def glued_pages() -> list[list[PdfLine]]:
    """Two pages whose text layer has words without spaces between them."""
    line = "Thepatientsreceivedthestudydrug dailyforsixweeksattheclinicalsite"
    return [[(11, line) for _ in range(18)] for _ in range(2)]


def test_glued_pdf_is_flagged_with_a_warning(make_pdf: PdfBuilder) -> None:
    doc = parse(make_pdf("glued.pdf", glued_pages()))
    assert doc.quality is not None
    assert doc.quality.suspect
    assert doc.quality.long_word_share > 0.9
    # Both parsers read the same glued text layer: the user is told, not silently served.
    warning = next(w for w in doc.warnings if w.startswith("parse quality suspect"))
    assert "letters long (glued?)" in warning
    assert "re-read with unstructured: no better" in warning


def test_clean_pdf_has_no_quality_warning(make_pdf: PdfBuilder) -> None:
    doc = parse(make_pdf("clean.pdf", [[(11, PROSE[:90]), (11, PROSE[90:180])]] * 30))
    assert doc.quality is not None
    assert not doc.quality.suspect, doc.quality.reasons
    assert not any("parse quality" in w or "re-read" in w for w in doc.warnings)


def test_suspect_reading_is_replaced_by_the_better_parser(
    make_pdf: PdfBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDFium reading glues words (as pdfminer did on the clinical-trial protocols):
    the document is re-read with unstructured and that reading is kept."""
    real = partitioners.partition_layout

    def gluing(name: str, data: bytes, password: str | None, *args: Any) -> list[Any]:
        elements = real(name, data, password, *args)
        for element in elements:
            element.text = element.text.replace(" ", "")
        return elements

    monkeypatch.setattr(partitioners, "partition_layout", gluing)
    pdf = make_pdf("protocol.pdf", [[(11, PROSE[:90]), (11, PROSE[90:180])]] * 30)
    doc = parse(pdf, pdf_parser="pdfium")
    assert doc.strategy == "fast"  # unstructured's reading was kept
    assert doc.quality is not None
    assert not doc.quality.suspect
    assert any(
        w.startswith("re-read with unstructured: ") and w.endswith("(glued?) with pdfium")
        for w in doc.warnings
    ), doc.warnings
    assert "Hepatitis C virus" in " ".join(e.text for e in doc.elements)


# --- the registry, the corpus report and the API ------------------------------------------


def test_quality_and_warnings_reach_the_registry_report_and_api(
    tmp_path: Path, make_pdf: PdfBuilder
) -> None:
    data = make_pdf("glued.pdf", glued_pages()).read_bytes()
    with running_app(settings_for(tmp_path / "data")) as http:
        writer = new_key(http, user="ann", tenant="acme", role="writer")
        r = writer.post("/v1/documents", files={"file": ("glued.pdf", data, "application/pdf")})
        assert r.status_code == 202, r.text
        job = writer.wait_job(r.json()["job_id"])
        assert job["status"] == "done", job
        r = writer.get(f"/v1/documents/{r.json()['doc_id']}")
        assert r.status_code == 200, r.text
        shown = r.json()
        services = http.app.state.services  # type: ignore[attr-defined]
        row = services.registry.get(shown["doc_id"])
    assert shown["quality"]["verdict"] == "suspect"
    assert shown["quality"]["long_word_share"] > 0.9
    assert any("glued?" in w for w in shown["warnings"])
    assert row is not None
    assert row.quality == shown["quality"]
    assert row.warnings == shown["warnings"]
    report = build_report([row], lambda doc_id: [], len)
    assert [uri for uri, _ in report.suspect] == [row.source_uri]
    assert report.as_dict()["parse_quality"]["suspect"][0]["reasons"].endswith("(glued?)")


def test_report_counts_quality_signals() -> None:
    rows = [
        DocumentRow(
            doc_id=str(i),
            tenant="t",
            source_uri=f"file:///d/{i}.pdf",
            state=DocState.indexed,
            pages=3,
            chunk_ids=[],
            quality={
                "verdict": "ok",
                "tables": 2,
                "pages_ocr": 1,
                "ocr_pages": [2],
                "empty_pages": [3],
            },
        )
        for i in range(2)
    ]
    report = build_report(rows, lambda doc_id: [], len)
    assert (report.tables, report.pages_ocr, report.empty_pages) == (4, 2, 2)
    assert [pages for _, pages in report.ocr] == [[2], [2]]
    assert report.as_dict()["parse_quality"]["ocr"][0]["pages"] == [2]
    assert report.suspect == []
