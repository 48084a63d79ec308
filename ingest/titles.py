"""A document's title: its metadata title when it means something, else the title set on a
PDF's cover, else its first plausible heading; None when none is found (readers then show
the file name).

Filings and forms put furniture where a title would be ("SECURITIES AND EXCHANGE
COMMISSION", "Washington, D.C. 20549", "FORM 10-Q"), and tools put placeholders in the
metadata ("Microsoft Word - x.docx"): :func:`is_cover_furniture` and the generic words
below keep those out. :func:`title_from_lines` is a pure function over laid-out lines.
"""

from __future__ import annotations

import html
import io
import re
import statistics
import zipfile
from collections.abc import Sequence

from ingest.parsed import ParsedElement
from ingest.pdf_tables import Line
from ingest.pdf_text import group_lines, page_chars, words_from_chars

#: Cover-page furniture, by shape: postal codes, "Washington, D.C.", form designators
#: ("FORM 10-Q"), form instructions and check-box lines.
_POSTAL = re.compile(r"\b\d{5}(?:-\d{4})?\b|\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b|\bD\.\s?C\.")
_FORM = re.compile(r"^(?i:form)\s+[\w.-]+$")
_INSTRUCTION = re.compile(
    r"^\(|pursuant to|check mark|file number|name of registrant|^for the \w+ period",
    re.I,
)
_AGENCY = re.compile(
    r"\b(COMMISSION|DEPARTMENT|AGENCY|BUREAU|MINISTRY|ADMINISTRATION)\b|^(THE )?UNITED STATES$"
)
_TITLE_CHECKBOXES = frozenset("☐☑☒□■✓✔¨")

#: Words of metadata titles that name no document: tools, formats, placeholders.
_GENERIC_TITLE_WORDS = frozenset(
    {"document", "documents", "untitled", "draft", "final", "copy", "scan", "scanned", "file",
     "page", "pages", "print", "version", "form", "report", "microsoft", "word", "powerpoint",
     "excel", "adobe", "acrobat", "docx"}
)  # fmt: skip


def guess_title(
    file_type: str,
    data: bytes,
    elements: list[ParsedElement],
    pdf_title: str | None,
    password: str | None = None,
) -> str | None:
    """The document's real title, or None (readers then show the file name).

    In order: the file's metadata title when it means something (not an id, a file name,
    "10Q Document" or an agency header); for a PDF, the largest line of its first page(s)
    that is not cover furniture (:func:`cover_title`); the first plausible top-level
    heading among the first elements.
    """
    title = pdf_title if file_type == "pdf" else None
    if file_type in ("docx", "pptx", "xlsx"):
        title = _ooxml_title(data)
    if title and _meaningful_metadata_title(title):
        return title
    if file_type == "eml" and elements and elements[0].depth == 0:
        return elements[0].text
    if file_type == "pdf" and (cover := cover_title(data, password=password)):
        return cover
    for el in elements[:30]:
        if el.type == "Title" and el.depth in (0, None) and _plausible_title(el.text):
            return el.text
    return None


def _meaningful_metadata_title(title: str) -> bool:
    """A metadata title worth showing: plausible, not a file name or a tool's placeholder
    ("Microsoft Word - x.docx", "04.01.2023 10Q Document"), not cover furniture."""
    words = [w.lower() for w in re.findall(r"[A-Za-z]{4,}", title)]
    return (
        _plausible_title(title)
        and not title.lower().endswith((".doc", ".docx", ".pdf", ".indd"))
        and any(w not in _GENERIC_TITLE_WORDS for w in words)
        and not is_cover_furniture(title)
    )


def _plausible_title(text: str) -> bool:
    """Words, not an id, not a table-of-contents label, not a paragraph, not furniture."""
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


def is_cover_furniture(text: str) -> bool:
    """True for a line that is form furniture, not a document's name: an address or postal
    code, an agency header in capitals ("SECURITIES AND EXCHANGE COMMISSION"), a form
    designator, an instruction ("(Exact name of registrant ...)"), check boxes, or too few
    letters to name anything."""
    text = text.strip()
    letters = sum(ch.isalpha() for ch in text)
    return (
        letters < 3
        or len(text) > 150
        or bool(_TITLE_CHECKBOXES.intersection(text))
        or bool(_POSTAL.search(text) or _FORM.match(text) or _INSTRUCTION.search(text))
        or (text.isupper() and bool(_AGENCY.search(text)))
    )


def title_from_lines(lines: Sequence[Line], *, prominence: float = 1.1) -> str | None:
    """A page's title: its largest-font run of lines that is not cover furniture.

    Consecutive lines of one font size (a title set on two lines) are judged as one; the
    first of the largest size wins. None when no such run is set larger than ``prominence``
    times the page's median line, i.e. when nothing on the page stands out.
    """
    if not lines:
        return None
    runs: list[list[Line]] = []
    for ln in lines:
        prev = runs[-1][-1] if runs else None
        if (
            prev is not None
            and abs(ln.size - prev.size) <= 0.05 * prev.size
            and ln.y0 - prev.y1 <= 0.6 * prev.size
        ):
            runs[-1].append(ln)
        else:
            runs.append([ln])
    median = statistics.median(ln.size for ln in lines)
    best: tuple[float, str] | None = None
    for run in runs:
        text = " ".join(ln.text for ln in run)
        size = run[0].size
        if size < prominence * median or is_cover_furniture(text):
            continue
        if best is None or size > best[0] + 0.05 * best[0]:
            best = (size, text)
    return best[1] if best else None


def cover_title(data: bytes, *, password: str | None = None, pages: int = 2) -> str | None:
    """The title set on the first page (else the next of the first ``pages``) of a PDF:
    see :func:`title_from_lines`. None when it has none, or cannot be read."""
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    try:
        pdf = pypdfium2.PdfDocument(data, password=password)
    except pypdfium2.PdfiumError:
        return None
    try:
        for index in range(min(pages, len(pdf))):
            page = pdf[index]
            try:
                width, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    chars, _, _ = page_chars(textpage, width, height)
                    words = words_from_chars(chars)
                finally:
                    textpage.close()
            finally:
                page.close()
            title = title_from_lines(group_lines(words))
            if title:
                return title
    finally:
        pdf.close()
    return None
