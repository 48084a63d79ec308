"""What a file really is, and whether it can be read: checks made before parsing.

- The type comes from the content (libmagic, through unstructured's detector); the
  type claimed by the name or the sender is kept to flag mislabelled files.
- Containers must carry their signature (``%PDF-``, zip, OLE), so junk renamed
  ``.pdf`` fails with a reason rather than deep inside a parser.
- Text is decoded here (BOM, UTF-8, clean cp1252, then detection), handed on as UTF-8.
- PDFs are opened with PDFium: encryption, corruption, page count, text layer.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import charset_normalizer
import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no type information
from charset_normalizer.md import mess_ratio

from core.errors import IngestError

#: Formats deepwell parses here (values of unstructured's ``FileType``). Legacy Office,
#: RTF, ODT and EPUB need LibreOffice or pandoc, which deepwell does not install.
SUPPORTED_TYPES = frozenset(
    {"pdf", "docx", "pptx", "xlsx", "csv", "tsv", "html", "md", "txt", "eml", "msg"}
)
#: Formats decoded to UTF-8 by deepwell before partitioning (see ``decode_text``).
TEXT_TYPES = frozenset({"csv", "tsv", "html", "md", "txt"})
_IMAGE_TYPES = frozenset({"bmp", "heic", "jpg", "png", "tiff", "webp"})
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
    if file_type in _IMAGE_TYPES:
        raise IngestError(f"{name}: {file_type} image needs OCR, which is not supported here")
    if file_type not in SUPPORTED_TYPES:
        what = "unrecognised binary content" if file_type == "unk" else f"file type {file_type!r}"
        raise IngestError(
            f"{name}: {what} is not supported (supported: {', '.join(sorted(SUPPORTED_TYPES))})"
        )
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
