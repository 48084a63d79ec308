"""What parsing gives: a document's typed elements and facts, converted from unstructured's.

:class:`ParsedElement` and :class:`ParsedDocument` are the model every later step reads
(cleaning, chunking, the document's title and metadata); :func:`convert` turns the
elements any partitioner returns (unstructured's element model, which the PDFium layout
parser and OCR emit too) into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.quality import ParseQuality


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


def convert(raw: list[Any], file_type: str) -> list[ParsedElement]:
    """unstructured's elements as :class:`ParsedElement`: page breaks and empty elements
    dropped, coordinates as page fractions, an e-mail's subject first as its heading."""
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
    return _with_subject(raw, out) if file_type == "eml" else out


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


def max_page(elements: list[ParsedElement]) -> int | None:
    """The highest page number of the elements, None when none has one."""
    pages = [e.page_number for e in elements if e.page_number is not None]
    return max(pages) if pages else None
