"""How a document will be read: the parse strategies, what this machine can run, and for a
PDF the reader of its text layer and the pages to OCR.

``ingest.strategy`` says how much OCR is allowed (``auto``, ``fast``, ``ocr_only``,
``hi_res``) and ``ingest.pdf_parser`` which parser reads a PDF's text layer (``pdfium``,
the layout parser, or ``unstructured``). :func:`check_strategy` refuses at start-up a
strategy this machine cannot run; :func:`plan_pages` settles, per document, what reads it
(the strategy names :func:`ingest.partitioners.partition` understands), or refuses it with
the reason.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from typing import Any, Literal

from core import ConfigError, IngestError
from ingest import ocr
from ingest.filetypes import IMAGE_TYPES, PdfFacts, pdf_preflight

Strategy = Literal["auto", "fast", "hi_res", "ocr_only"]
PdfParser = Literal["unstructured", "pdfium"]


def ocr_available() -> bool:
    """True when Tesseract and its English pack are installed (see :mod:`ingest.ocr`)."""
    return ocr.available()


def _unstructured_ocr_available() -> bool:
    """True when unstructured's own OCR path (``hi_res``) can call Tesseract."""
    return ocr_available() and importlib.util.find_spec("unstructured_pytesseract") is not None


def hi_res_available() -> bool:
    """True when ``hi_res`` can run offline: OCR, poppler and a cached layout model."""
    if not (_unstructured_ocr_available() and shutil.which("pdftoppm")):
        return False
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache("unstructuredio/yolo_x_layout", "yolox_l0.05.onnx")
    return isinstance(cached, str)


def check_strategy(strategy: Strategy) -> None:
    """Fail at start-up, not per document, when ``strategy`` cannot run on this machine.

    Raises:
        ConfigError: ``hi_res`` without its layout model, or ``ocr_only`` without OCR.
    """
    if strategy == "hi_res" and not hi_res_available():
        raise ConfigError(
            "ingest.strategy 'hi_res' needs a cached layout model (unstructuredio/yolo_x_layout), "
            "Tesseract and poppler; none can be downloaded here. Use 'fast' or 'auto'."
        )
    if strategy == "ocr_only" and not ocr_available():
        raise ConfigError(f"ingest.strategy 'ocr_only' needs OCR: {ocr.missing()}")


def plan_pages(
    name: str,
    data: bytes,
    file_type: str,
    *,
    strategy: Strategy,
    pdf_parser: PdfParser,
    password: str | None,
    kwargs: dict[str, Any],
) -> PdfFacts | None:
    """For a PDF: check it, choose its reader and the pages to OCR (into ``kwargs``) and
    return its facts. For an image: check OCR can read it. Else nothing.

    Raises:
        IngestError: the document cannot be read under ``strategy`` (the reason said).
    """
    languages = kwargs["languages"]
    if file_type in IMAGE_TYPES:
        _check_image_ocr(name, file_type, strategy, languages)
    if file_type != "pdf":
        return None
    pdf = pdf_preflight(name, data, password)
    kwargs["strategy"] = _resolve_pdf_strategy(name, strategy, pdf, pdf_parser, languages)
    kwargs["password"] = password
    kwargs["ocr_pages"] = _pages_to_ocr(kwargs["strategy"], strategy, pdf, languages)
    return pdf


def _resolve_pdf_strategy(
    name: str,
    strategy: Strategy,
    pdf: PdfFacts,
    pdf_parser: PdfParser = "pdfium",
    languages: Sequence[str] = ("eng",),
) -> str:
    """The strategy that will read this PDF: ``pdfium`` where the layout parser reads the
    text layer (OCRing the pages without one), ``fast`` for unstructured's, ``ocr_only``
    where every page is OCRed (through the layout parser too)."""
    if pdf.page_count == 0:
        raise IngestError(f"{name}: PDF has no pages")
    has_text = len(pdf.pages_without_text) < pdf.page_count
    if strategy == "hi_res":
        if not hi_res_available():
            raise IngestError(
                f"{name}: strategy 'hi_res' needs a layout model that cannot be "
                "downloaded here; use 'fast' or 'auto'"
            )
        return strategy
    if strategy == "ocr_only" or (strategy == "auto" and not has_text):
        why = ocr.missing(languages)
        if why is not None:
            scanned = "PDF has no text layer (scanned?) and " if not has_text else ""
            raise IngestError(f"{name}: {scanned}{why}")
        return "ocr_only" if strategy == "ocr_only" else "pdfium"
    if not has_text:
        raise IngestError(
            f"{name}: PDF has no text layer (scanned?) and OCR is off "
            "(ingest.strategy 'fast'; 'auto' OCRs such pages)"
        )
    return "pdfium" if pdf_parser == "pdfium" else "fast"


def _pages_to_ocr(
    resolved: str, strategy: Strategy, pdf: PdfFacts, languages: Sequence[str]
) -> list[int]:
    """The pages the layout parser OCRs: all under ``ocr_only``; under ``auto``, those
    without a text layer, when OCR is installed (else they are reported, not read)."""
    if resolved == "ocr_only":
        return list(range(1, pdf.page_count + 1))
    if resolved == "pdfium" and strategy == "auto" and ocr.available(languages):
        return list(pdf.pages_without_text)
    return []


def _check_image_ocr(
    name: str, file_type: str, strategy: Strategy, languages: Sequence[str]
) -> None:
    if strategy == "fast":
        raise IngestError(
            f"{name}: {file_type} image needs OCR, which is off "
            "(ingest.strategy 'fast'; 'auto' reads images)"
        )
    why = ocr.missing(languages)
    if why is not None:
        raise IngestError(f"{name}: {file_type} image needs OCR: {why}")
