"""Parse one document into typed elements, offline and never silently.

:func:`parse` is the one entry point: it reads the bytes, detects the file type from the
content (:mod:`ingest.filetypes`; a mislabelled file is parsed as what it is and flagged
in ``ParsedDocument.warnings``), checks the input limits, plans how the document is read
(:mod:`ingest.strategies`), partitions it (:mod:`ingest.partitioners`: the PDFium layout
parser of :mod:`ingest.pdf_layout` for PDFs with a text layer by default, OCR for images
and scans, unstructured for the rest), converts the elements (:mod:`ingest.parsed`),
re-reads a suspect PDF with the other parser (:mod:`ingest.quality`) and finds the
title (:mod:`ingest.titles`).

Every failure (empty file, corrupt or encrypted PDF, binary junk, a PDF without a text
layer) is an :class:`~core.errors.IngestError` that says why. The names other modules
use from the parsing step are importable from here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import IngestError, get_logger
from ingest import ocr
from ingest.filetypes import (
    IMAGE_TYPES,
    OOXML_TYPES,
    TEXT_TYPES,
    InputLimits,
    PdfFacts,
    check_archive,
    check_chars,
    check_html_depth,
    check_sheets,
    check_supported,
    check_table_text,
    check_text_bytes,
    decode_text,
    detect_type,
)
from ingest.parsed import ParsedDocument, ParsedElement, convert, max_page
from ingest.partitioners import ensure_offline_nlp, partition, warm_up
from ingest.quality import ParseQuality, assess
from ingest.strategies import (
    PdfParser,
    Strategy,
    check_strategy,
    hi_res_available,
    plan_pages,
)
from ingest.titles import guess_title

__all__ = [
    "ParsedDocument",
    "ParsedElement",
    "PdfParser",
    "Strategy",
    "check_strategy",
    "ensure_offline_nlp",
    "hi_res_available",
    "parse",
    "warm_up",
]

log = get_logger(__name__)


def parse(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    strategy: Strategy = "auto",
    languages: Sequence[str] = ("eng",),
    password: str | None = None,
    max_bytes: int | None = None,
    limits: InputLimits | None = None,
    pdf_parser: PdfParser = "pdfium",
) -> ParsedDocument:
    """Parse a document (a path or its bytes) into elements and document facts.

    Args:
        source: a file path, or the document's bytes.
        filename: the document's name (required for bytes; defaults to the path's name).
        content_type: MIME type claimed by the sender; checked against the content.
        strategy: ``auto`` reads PDFs' text layers and OCRs the pages without one, and
            images; ``fast`` never OCRs (a scan is refused); ``ocr_only`` OCRs every PDF
            page; ``hi_res`` needs a layout model that is usually absent
            (see ``check_strategy``).
        languages: Tesseract language codes (OCR) and element language metadata.
        password: opens an encrypted PDF.
        max_bytes: refuse larger files.
        limits: how much work the input may cause (see :class:`InputLimits`), each checked
            before the step it bounds; the defaults of ``IngestSettings`` when None.
        pdf_parser: reads PDFs with a text layer under the ``fast`` strategy: ``pdfium``,
            the layout parser of :mod:`ingest.pdf_layout` (the default), or unstructured
            (pdfminer; its strategy is then reported as ``fast``).

    Raises:
        IngestError: the document cannot be parsed; the message says why.
    """
    started = time.perf_counter()
    ensure_offline_nlp()
    limits = limits or InputLimits.from_settings()
    doc = _open_input(source, filename, content_type, max_bytes, limits)
    kwargs: dict[str, Any] = {"languages": list(languages), "strategy": "fast"}
    if doc.encoding is not None:
        kwargs["encoding"] = "utf-8"
    pdf = plan_pages(
        doc.name,
        doc.data,
        doc.file_type,
        strategy=strategy,
        pdf_parser=pdf_parser,
        password=password,
        kwargs=kwargs,
    )
    read = _read(doc, limits, kwargs, pdf)
    parsed = ParsedDocument(
        filename=doc.name,
        file_type=doc.file_type,
        mime_type=doc.detected.mime_type,
        declared_type=doc.declared,
        elements=read.elements,
        size_bytes=doc.size,
        sha256=doc.sha256,
        page_count=read.page_count,
        title=guess_title(
            doc.file_type, doc.data, read.elements, pdf.title if pdf else None, password
        ),
        encoding=doc.encoding,
        strategy=read.strategy if pdf else None,
        pages_without_text=pdf.pages_without_text if pdf else [],
        ocr_pages=list(read.ocr_pages),
        warnings=doc.notes + read.notes,
        parse_seconds=time.perf_counter() - started,
        quality=read.quality,
    )
    log.info(
        "ingest.parsed",
        filename=parsed.filename,
        file_type=parsed.file_type,
        elements=len(parsed.elements),
        pages=parsed.page_count,
        seconds=round(parsed.parse_seconds, 3),
        warnings=len(parsed.warnings),
        quality="suspect" if read.quality.suspect else "ok",
    )
    return parsed


@dataclass(frozen=True, slots=True)
class _Input:
    """A document's bytes read, identified and checked, before any partitioner reads them."""

    name: str
    data: bytes  # a text format's decoded and re-encoded as UTF-8
    size: int  # of the bytes read
    sha256: str  # of the bytes read
    detected: Any  # unstructured's FileType of the content
    declared: str | None  # the type the name or the sender claimed
    encoding: str | None  # a text format's source encoding
    notes: list[str]  # warnings so far

    @property
    def file_type(self) -> str:
        return str(self.detected.value)


def _open_input(
    source: str | Path | bytes,
    filename: str | None,
    content_type: str | None,
    max_bytes: int | None,
    limits: InputLimits,
) -> _Input:
    """The document read, its type detected from the content (a mismatch with the declared
    type noted) and the input limits checked."""
    data, name = _read_source(source, filename, max_bytes)
    size, sha256 = len(data), hashlib.sha256(data).hexdigest()
    detected, declared = detect_type(data, name, content_type)
    file_type = detected.value
    notes: list[str] = []
    if declared is not None and declared != file_type:
        notes.append(f"declared {declared} but the content is {file_type}; parsed as {file_type}")
        log.warning("ingest.type_mismatch", filename=name, declared=declared, detected=file_type)
    data, encoding = _checked_input(name, data, file_type, declared, limits)
    if encoding not in (None, "utf-8", "ascii"):
        notes.append(f"decoded from {encoding}")
    return _Input(name, data, size, sha256, detected, declared, encoding, notes)


@dataclass(frozen=True, slots=True)
class _Reading:
    """What the partitioner kept read: the elements, their quality, and what to say."""

    elements: list[ParsedElement]
    page_count: int | None
    ocr_pages: list[int]
    quality: ParseQuality
    strategy: str  # the strategy that read the kept elements
    notes: list[str]


def _read(
    doc: _Input, limits: InputLimits, kwargs: dict[str, Any], pdf: PdfFacts | None
) -> _Reading:
    """Partition and convert the document as planned (``kwargs``, ``pdf``); a suspect PDF
    text layer is read again with the other parser and the better reading kept."""
    name, file_type = doc.name, doc.file_type
    elements = _elements(name, doc.data, doc.detected, file_type, limits, **kwargs)
    page_count = pdf.page_count if pdf else max_page(elements)
    ocr_pages = kwargs.get("ocr_pages") or []
    if file_type in IMAGE_TYPES:
        ocr_pages = list(range(1, (page_count or 1) + 1))
    quality = assess(elements, page_count=page_count, ocr_pages=ocr_pages)
    notes: list[str] = []
    if quality.suspect:
        kwargs, elements, quality, note = _reread_if_better(
            name,
            doc.data,
            detected=doc.detected,
            file_type=file_type,
            limits=limits,
            kwargs=kwargs,
            elements=elements,
            quality=quality,
        )
        notes.append(note)
        log.warning("ingest.parse_suspect", filename=name, reasons=quality.reasons, note=note)
    if pdf is not None:
        notes += _pdf_notes(pdf, elements, ocr_pages)
    return _Reading(elements, page_count, ocr_pages, quality, kwargs["strategy"], notes)


def _read_source(
    source: str | Path | bytes, filename: str | None, max_bytes: int | None
) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        if not filename:
            raise IngestError("parse(bytes) needs a filename")
        data, name = source, filename
    else:
        path = Path(source)
        name = filename or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError(f"{name}: cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise IngestError(f"{name}: empty file ({len(data)} bytes, no content)")
    if max_bytes is not None and len(data) > max_bytes:
        raise IngestError(f"{name}: {len(data)} bytes exceeds the limit of {max_bytes}")
    return data, name


def _checked_input(
    name: str, data: bytes, file_type: str, declared: str | None, limits: InputLimits
) -> tuple[bytes, str | None]:
    """The document checked against the input limits before anything parses it, and its
    bytes as the partitioner takes them: a text format decoded and re-encoded as UTF-8,
    with the encoding it was read from (None for binary formats).

    Raises:
        IngestError: an unsupported type, or an input over a limit (which one said).
    """
    check_supported(name, file_type, data, declared)
    if file_type in OOXML_TYPES:
        check_archive(name, data, limits)
        if file_type == "xlsx":
            check_sheets(name, data, limits)
    if file_type not in TEXT_TYPES:
        return data, None
    check_text_bytes(name, len(data), limits)
    text, encoding = decode_text(name, data)
    if file_type in ("csv", "tsv"):
        check_table_text(name, file_type, text, limits)
    check_chars(name, len(text), limits)
    if file_type == "html":
        check_html_depth(name, text)
    return text.encode("utf-8"), encoding


def _elements(
    name: str, data: bytes, detected: Any, file_type: str, limits: InputLimits, **kwargs: Any
) -> list[ParsedElement]:
    """Partition and convert; refuse a document with no text or too much of it."""
    raw = partition(name, data, detected, **kwargs)
    elements = convert(raw, file_type)
    del raw[:]  # unstructured's elements: the converted ones are all that is kept
    if not any(e.text.strip() for e in elements):
        raise IngestError(f"{name}: no text could be extracted from this {file_type} file")
    check_chars(name, sum(len(e.text) for e in elements), limits, what="characters of parsed text")
    return elements


#: For a PDF text layer read by one parser, the other one (strategy names of parse()).
_OTHER_PDF_READER = {"pdfium": "fast", "fast": "pdfium"}
_READER_NAMES = {"pdfium": "pdfium", "fast": "unstructured"}


def _reread_if_better(
    name: str,
    data: bytes,
    *,
    detected: Any,
    file_type: str,
    limits: InputLimits,
    kwargs: dict[str, Any],
    elements: list[ParsedElement],
    quality: ParseQuality,
) -> tuple[dict[str, Any], list[ParsedElement], ParseQuality, str]:
    """A suspect PDF text layer read again with the other parser; the better reading kept.

    Returns the partition arguments, elements and quality of the reading kept, and the
    warning the user sees: which parser was used and why, or that the document looks
    badly extracted whatever reads it.
    """
    first = kwargs["strategy"]
    why = "; ".join(quality.reasons)
    # unstructured's fast path cannot OCR: a document with OCRed pages keeps its reading.
    rereadable = file_type == "pdf" and not kwargs.get("ocr_pages")
    other = _OTHER_PDF_READER.get(first) if rereadable else None
    if other is None:
        return kwargs, elements, quality, f"parse quality suspect: {why}"
    first_name, other_name = _READER_NAMES[first], _READER_NAMES[other]
    again = {**kwargs, "strategy": other}
    try:
        elements2 = _elements(name, data, detected, file_type, limits, **again)
    except IngestError as exc:
        log.info("ingest.reread_failed", filename=name, parser=other_name, error=str(exc))
        return kwargs, elements, quality, f"parse quality suspect: {why} ({other_name} failed)"
    quality2 = assess(elements2, page_count=quality.pages, ocr_pages=quality.ocr_pages)
    if quality2.badness() < quality.badness():
        note = f"re-read with {other_name}: {why} with {first_name}"
        if quality2.suspect:
            note += f"; still suspect: {'; '.join(quality2.reasons)}"
        return again, elements2, quality2, note
    return (
        kwargs,
        elements,
        quality,
        f"parse quality suspect: {why} (re-read with {other_name}: no better)",
    )


def _pdf_notes(pdf: PdfFacts, elements: list[ParsedElement], ocr_pages: Sequence[int]) -> list[str]:
    """Pages without text that were not OCRed, and pages with a text layer that gave
    nothing, are a loss worth saying."""
    notes = []
    skipped = [p for p in pdf.pages_without_text if p not in ocr_pages]
    if skipped:
        why = ocr.missing() or "OCR is off (ingest.strategy 'fast')"
        notes.append(f"{len(skipped)} page(s) have no text layer (not OCRed: {why})")
    seen = {e.page_number for e in elements}
    lost = [
        p
        for p in range(1, pdf.page_count + 1)
        if p not in seen and p not in pdf.pages_without_text and p not in ocr_pages
    ]
    if lost:
        notes.append(f"text layer of page(s) {lost[:10]} produced no elements")
    return notes
