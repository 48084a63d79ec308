"""What a file really is, and whether it can be read: checks made before parsing.

- The type comes from the content (libmagic, through unstructured's detector); the
  type claimed by the name or the sender is kept to flag mislabelled files.
- Containers must carry their signature (``%PDF-``, zip, OLE), so junk renamed
  ``.pdf`` fails with a reason rather than deep inside a parser.
- Text is decoded here (BOM, UTF-8, clean cp1252, then detection), handed on as UTF-8.
- PDFs are opened with PDFium: encryption, corruption, page count, text layer.
- Hostile inputs are measured before the expensive step (:class:`InputLimits`): a zip's
  central directory (zip bombs), DTDs in Office XML (billion laughs), text size before
  decoding, rows and cells of tables before partitioning.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import charset_normalizer
import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no type information
from charset_normalizer.md import mess_ratio

from core import IngestError, IngestSettings

#: Formats deepwell parses here (values of unstructured's ``FileType``). Legacy Office,
#: RTF, ODT and EPUB need LibreOffice or pandoc, which deepwell does not install.
SUPPORTED_TYPES = frozenset(
    {"pdf", "docx", "pptx", "xlsx", "csv", "tsv", "html", "md", "txt", "eml", "msg"}
)
#: Formats decoded to UTF-8 by deepwell before partitioning (see ``decode_text``).
TEXT_TYPES = frozenset({"csv", "tsv", "html", "md", "txt"})
#: Images, read by OCR (ingest.ocr); a multi-frame TIFF is one page a frame.
IMAGE_TYPES = frozenset({"bmp", "heic", "jpg", "png", "tiff", "webp"})
#: Signatures a binary container must start with; names that lie are caught here.
_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "docx": (b"PK",),
    "pptx": (b"PK",),
    "xlsx": (b"PK",),
    "msg": (b"\xd0\xcf\x11\xe0",),
}
_MIN_PAGE_CHARS = 16  # fewer PDFium characters than this on a page counts as "no text"


def detect_type(data: bytes, name: str, content_type: str | None) -> tuple[Any, str | None]:
    """unstructured's ``FileType`` of the content, and the type the name or sender claimed."""
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    # No content_type here: the claim is compared with the content, not trusted. The
    # detector warns about guessed encodings of text; _decode_text settles those.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detected = detect_filetype(file=io.BytesIO(data), metadata_file_path=name)
    claimed = FileType.from_mime_type(content_type) if content_type else None
    if claimed in (None, FileType.UNK):
        claimed = FileType.from_extension(Path(name).suffix.lower())
    declared = None if claimed in (None, FileType.UNK) else claimed.value
    if declared in TEXT_TYPES and detected.value in TEXT_TYPES:
        declared = detected.value  # plain text can't be told from markdown or csv by content
    return detected, declared


def check_supported(name: str, file_type: str, data: bytes, declared: str | None = None) -> None:
    """Refuse unsupported types and containers whose bytes are not what they claim."""
    if file_type == "zip" and declared in ("docx", "pptx", "xlsx"):
        raise IngestError(f"{name}: corrupt or truncated {declared} (no {declared} parts inside)")
    if file_type not in SUPPORTED_TYPES | IMAGE_TYPES:
        what = "unrecognised binary content" if file_type == "unk" else f"file type {file_type!r}"
        supported = ", ".join(sorted(SUPPORTED_TYPES | IMAGE_TYPES))
        raise IngestError(f"{name}: {what} is not supported (supported: {supported})")
    if file_type in _SIGNATURES and not data[:1024].lstrip().startswith(_SIGNATURES[file_type]):
        if file_type == "pdf" and b"%PDF-" in data[:1024]:
            return  # junk before the header is tolerated by PDF readers
        raise IngestError(f"{name}: not a valid {file_type} file (its signature is missing)")
    if file_type in ("docx", "pptx", "xlsx") and not zipfile.is_zipfile(io.BytesIO(data)):
        raise IngestError(f"{name}: corrupt or truncated {file_type} (not a readable zip archive)")


def decode_text(name: str, data: bytes) -> tuple[str, str]:
    """Decode text bytes: a BOM, else UTF-8, else cp1252 if it reads cleanly, else detection.

    cp1252 is tried before detection because charset_normalizer ranks cp1250 first
    when both decode without errors, turning "crème" into "crčme"; charset_normalizer's
    own mess ratio says whether the cp1252 reading is clean (Polish or Cyrillic bytes
    read as cp1252 are not, and go on to detection).

    Returns:
        The text and the codec it was decoded with.
    """
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _checked_text(name, data.decode(codec)), codec
            except UnicodeDecodeError:
                break
    try:
        return _checked_text(name, data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:65536]:
        raise IngestError(f"{name}: binary content, not text (NUL bytes)")
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = ""
    if western and mess_ratio(western[:65536], 1.0) < 0.1:
        return _checked_text(name, western), "cp1252"
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise IngestError(f"{name}: binary content or unknown text encoding")
    return _checked_text(name, str(best)), best.encoding


def _checked_text(name: str, text: str) -> str:
    sample = text[:65536]
    controls = sum(
        1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc"
    )
    if controls > max(2, len(sample) // 100):
        raise IngestError(f"{name}: binary content, not text ({controls} control characters)")
    return text


@dataclass(frozen=True, slots=True)
class PdfFacts:
    page_count: int
    pages_without_text: list[int]
    title: str | None


def pdf_preflight(name: str, data: bytes, password: str | None) -> PdfFacts:
    """Open the PDF with PDFium: encryption, corruption, page count, text layer.

    unstructured swallows pdfminer's errors and returns no elements, so a PDF is
    checked here first; PDFium also reads the two SEC filings pypdf refuses.
    """
    try:
        pdf = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
            reason = "wrong password" if password else "encrypted PDF (password-protected)"
            raise IngestError(f"{name}: {reason}; supply an unencrypted copy") from exc
        raise IngestError(f"{name}: corrupt or truncated PDF ({exc})") from exc
    try:
        empty: list[int] = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            if textpage.count_chars() < _MIN_PAGE_CHARS:
                empty.append(index + 1)
            textpage.close()
            page.close()
        title = (pdf.get_metadata_dict(skip_empty=True).get("Title") or "").strip() or None
        return PdfFacts(len(pdf), empty, title)
    finally:
        pdf.close()


# --- bounded work per input ------------------------------------------------------------------

#: Office formats: zip archives of XML parts, checked from the central directory.
OOXML_TYPES = frozenset({"docx", "pptx", "xlsx"})
_RATIO_FLOOR = 1 << 20  # only parts over 1 MB have their compression ratio checked
_PROLOG_BYTES = 64 * 1024  # where a DTD would have to be (before the root element)
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
#: A worksheet's rows and cells; matched on the raw XML, any namespace prefix.
_SHEET_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_SHEET_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_STREAM_BLOCK = 1 << 20
#: UTF-8 needs at most 4 bytes a character: more bytes than 4 × max_chars cannot fit.
MAX_BYTES_PER_CHAR = 4


@dataclass(frozen=True, slots=True)
class InputLimits:
    """How much work one input may cause, measured before the expensive step.

    The defaults are those of :class:`~core.settings.IngestSettings`; each failure names
    the setting that raises the limit.
    """

    max_chars: int
    max_rows: int
    max_cells: int
    max_chunks: int
    max_unpacked_bytes: int
    max_archive_entries: int
    max_compression_ratio: float

    @classmethod
    def from_settings(cls, settings: IngestSettings | None = None) -> InputLimits:
        """The limits of ``settings`` (the defaults when None)."""
        s = settings or IngestSettings()
        return cls(
            max_chars=s.max_chars,
            max_rows=s.max_rows,
            max_cells=s.max_cells,
            max_chunks=s.max_chunks,
            max_unpacked_bytes=int(s.max_unpacked_mb * 1e6),
            max_archive_entries=s.max_archive_entries,
            max_compression_ratio=s.max_compression_ratio,
        )


def over_limit(name: str, what: str, value: float, limit: float, setting: str) -> IngestError:
    """The error for a measured value over its limit: what, how much, the limit, the setting.

    >>> str(over_limit("r.csv", "rows", 1_000_000, 100_000, "ingest.max_rows"))
    'r.csv: 1,000,000 rows is over the limit of 100,000 (ingest.max_rows)'
    """
    return IngestError(
        f"{name}: {_number(value)} {what} is over the limit of {_number(limit)} ({setting})"
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def check_archive(name: str, data: bytes, limits: InputLimits) -> None:
    """Refuse an Office file whose parts would cost more than the limits allow to unpack.

    Read from the zip's central directory before anything is decompressed: the number of
    parts, their total uncompressed size, and the compression ratio of each part over
    1 MB (zip bombs). Then the prolog of each XML part: Office never writes a DTD, and an
    entity declaration is the billion-laughs vector. Declared sizes can lie: Python's
    zipfile (which every Office parser here uses) stops reading a part at its declared size
    and then fails its CRC, so a part cannot unpack to more than it declares.

    Raises:
        IngestError: a limit is exceeded or a part declares a DTD; the reason says which.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_archive_entries:
                raise over_limit(
                    name,
                    "parts",
                    len(infos),
                    limits.max_archive_entries,
                    "ingest.max_archive_entries",
                )
            total = sum(info.file_size for info in infos)
            if total > limits.max_unpacked_bytes:
                raise IngestError(
                    f"{name}: {_number(total / 1e6)} MB unpacked is over the limit of "
                    f"{_number(limits.max_unpacked_bytes / 1e6)} MB (ingest.max_unpacked_mb)"
                )
            for info in infos:
                if info.file_size > _RATIO_FLOOR:
                    ratio = info.file_size / max(1, info.compress_size)
                    if ratio > limits.max_compression_ratio:
                        raise IngestError(
                            f"{name}: part {info.filename} compresses {ratio:,.0f}:1, over the "
                            f"limit of {_number(limits.max_compression_ratio)}:1 "
                            "(ingest.max_compression_ratio)"
                        )
            for info in infos:
                if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    _refuse_dtd(name, zf, info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise IngestError(f"{name}: corrupt Office file (unreadable zip: {exc})") from exc


def _refuse_dtd(name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A DTD can only sit before the root element, so the start of the part is enough."""
    with zf.open(info) as part:
        head = part.read(_PROLOG_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:2] == b"\x00" or head[:1] == b"\x00":
        head = head.decode("utf-16", "ignore").encode("utf-8")  # UTF-16 XML
    if _DTD.search(head):
        raise IngestError(
            f"{name}: part {info.filename} declares a DTD or entities, which Office never "
            "writes (refused: entity expansion)"
        )


def check_sheets(name: str, data: bytes, limits: InputLimits) -> None:
    """Count an XLSX's rows and cells by streaming its worksheets' XML, with a bound.

    Worksheet dimensions (``<dimension ref=...>``) are optional and can lie, so the
    ``<row>`` and ``<c>`` elements are counted instead, in 1 MB blocks, stopping as soon
    as a limit is passed. Call after :func:`check_archive` (sizes are bounded by then).

    Raises:
        IngestError: more rows (``ingest.max_rows``) or cells (``ingest.max_cells``).
    """
    rows = cells = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if not info.filename.startswith("xl/worksheets/") or not info.filename.endswith(".xml"):
                continue
            with zf.open(info) as part:
                tail = b""
                while block := part.read(_STREAM_BLOCK):
                    # keep a short tail so a tag split across two blocks is seen once
                    text, tail = tail + block, b""
                    cut = text.rfind(b"<")
                    if cut > len(text) - 64:
                        text, tail = text[:cut], text[cut:]
                    rows += len(_SHEET_ROW.findall(text))
                    cells += len(_SHEET_CELL.findall(text))
                    _check_table(name, rows, cells, limits)
                rows += len(_SHEET_ROW.findall(tail))
                cells += len(_SHEET_CELL.findall(tail))
    _check_table(name, rows, cells, limits)


def check_table_text(name: str, file_type: str, text: str, limits: InputLimits) -> None:
    """Count a CSV/TSV's rows and cells on the decoded text, stopping past a limit.

    Raises:
        IngestError: more rows (``ingest.max_rows``) or cells (``ingest.max_cells``).
    """
    reader = csv.reader(io.StringIO(text), delimiter="\t" if file_type == "tsv" else ",")
    rows = cells = 0
    try:
        for record in reader:
            rows += 1
            cells += len(record)
            if rows > limits.max_rows or cells > limits.max_cells:
                break
    except csv.Error:
        rows = limits.max_rows + 1  # a field over csv's own size limit: measured by lines
    if rows > limits.max_rows:
        # Stopped early: the line count measures the whole file (records, header included).
        rows = max(rows, text.count("\n") + (0 if text.endswith("\n") else 1))
    _check_table(name, rows, cells, limits)


def _check_table(name: str, rows: int, cells: int, limits: InputLimits) -> None:
    if rows > limits.max_rows:
        raise over_limit(name, "rows", rows, limits.max_rows, "ingest.max_rows")
    if cells > limits.max_cells:
        raise over_limit(name, "cells", cells, limits.max_cells, "ingest.max_cells")


#: libxml2's HTML parser drops what is nested deeper than this (without XML_PARSE_HUGE).
MAX_HTML_DEPTH = 256
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^>]*?(/?)>")
#: Elements that never close, or whose end tag HTML lets authors leave out.
_HTML_UNNESTED = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rtc",
        "rp",
        "html",
        "head",
        "body",
    ]
)


def check_html_depth(name: str, text: str) -> None:
    """Refuse HTML nested deeper than the parser keeps, rather than lose it silently.

    Counted on the tags (elements with optional end tags don't count), one pass.

    Raises:
        IngestError: elements nest deeper than ``MAX_HTML_DEPTH``.
    """
    depth = deepest = 0
    for match in _HTML_TAG.finditer(text):
        closing, tag, self_closing = match.groups()
        if self_closing or tag.lower() in _HTML_UNNESTED:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        deepest = max(deepest, depth)
    if deepest > MAX_HTML_DEPTH:
        raise IngestError(
            f"{name}: HTML elements nested {deepest:,} deep is over the limit of "
            f"{MAX_HTML_DEPTH} (the HTML parser drops deeper content)"
        )


def check_text_bytes(name: str, size: int, limits: InputLimits) -> None:
    """Before decoding: more than 4 bytes a character allowed cannot fit ``max_chars``."""
    if size > MAX_BYTES_PER_CHAR * limits.max_chars:
        raise IngestError(
            f"{name}: {_number(size)} bytes of text is over the limit of "
            f"{_number(limits.max_chars)} characters (ingest.max_chars; at most "
            f"{_number(MAX_BYTES_PER_CHAR * limits.max_chars)} bytes can fit)"
        )


def check_chars(name: str, chars: int, limits: InputLimits, *, what: str = "characters") -> None:
    """Characters of text (decoded, or of all parsed elements) against ``ingest.max_chars``."""
    if chars > limits.max_chars:
        raise over_limit(name, what, chars, limits.max_chars, "ingest.max_chars")


def check_chunks(name: str, chunks: int, limits: InputLimits) -> None:
    """Chunks of one document against ``ingest.max_chunks`` (before anything is embedded)."""
    if chunks > limits.max_chunks:
        raise over_limit(name, "chunks", chunks, limits.max_chunks, "ingest.max_chunks")
