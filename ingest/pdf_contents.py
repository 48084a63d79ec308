"""Tables of contents from text geometry, and the page links that point inside the PDF.

A table of contents (TOC) read column by column comes out as "Item 1. Item 2. Item 3.",
then the titles, then "1 14 19", and is glued into a chunk with the cover page. Here its
lines are recognised and kept as ONE table, a row per entry, marked as contents
(:attr:`ingest.pdf_tables.Table.contents`, ``<table class="contents">``) so cleaning can
drop it with a counted reason (:mod:`ingest.contents`).

An entry is a line whose last word is a page number (``14``, ``iv``, ``A-3``) set apart
at the right (a gap of two line heights, or dot leaders) after a title with letters, or
a line covered by a link to another page of the document. A run of three or more entries
(part headings and wrapped titles may sit between them) is a TOC when its page numbers
are aligned down the page, never decrease (bar the odd exception), stay within the
document's plausible page range, and something else says "contents": a "Contents" /
"Index" heading or a "Page" column header just above, leaders on most entries, links on
most entries, or the page before was a TOC. Entries that are links without page
numbers need the heading, the TOC before, or five of them in the first pages (an exhibit
index at the end links to its exhibits' pages too). A schedule with one value column
fails on its values (amounts with separators, years, values that go down) or on the
lack of any such sign, small whole numbers going up included.

Pure functions over :class:`~ingest.pdf_tables.Line` boxes, except :func:`page_links`.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.pdf_tables import Line, Table

#: A box (x0, y0, x1, y1) in reading coordinates.
Box = tuple[float, float, float, float]

_ROMAN = re.compile(r"^(?=[ivxlc])c{0,3}(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$")
_PAGE = re.compile(r"^(?:\d{1,4}|[A-Z]{1,2}-\d{1,3})$")
_LEADER_WORD = re.compile(r"^[.…·_]+$")
_TRAILING_LEADER = re.compile(r"(?:[.…·_]\s?){3,}$")
#: "Introduction.........3": title, leaders and page number drawn as one word.
_GLUED = re.compile(r"^(?P<label>.*?)(?:[.…·_]\s?){3,}(?P<page>\d{1,4}|[ivxlc]{1,7})$")
_HEADING = re.compile(
    r"^(?:table of contents|contents|index|toc|in this (?:report|document|issue)|"
    r"list of (?:tables|figures|illustrations|charts|appendices))"
    r"(?:\s*\(continued\)|\s*\(cont(?:'|’)?d\.?\))?(?:\s+pages?)?$",
    re.I,
)
_LIST_LABEL = re.compile(r"^\(?[A-Za-z0-9]{1,3}[.)]\s")
_OPEN_END = re.compile(r"(?:[,;&–-]|\b(?:and|or|of|the|for|to|in|on|with|by|from|as|at))$", re.I)
_PAGE_HEADER = re.compile(r"^(?:pages?|page no\.?|pg\.?|p\.)$", re.I)


@dataclass(frozen=True, slots=True)
class ContentsHints:
    """What the page alone does not tell: where it sits in the document."""

    pages: int = 0  # the document's page count; 0 when unknown
    early: bool = False  # one of the document's first pages
    follows_contents: bool = False  # the page before holds a TOC (a TOC goes on)

    @property
    def max_page(self) -> int:
        """The highest page number an entry may name (printed numbers run a bit ahead)."""
        return 2 * self.pages + 20 if self.pages else 2000


@dataclass(frozen=True, slots=True)
class Entry:
    """A TOC entry read from one line: its title, page number and where the number ends."""

    label: str
    page: str
    value: int | None  # arabic or roman page number; None for "A-3"
    right: float  # x1 of the page number
    leaders: bool


def _roman(text: str) -> int | None:
    if not text or not _ROMAN.match(text):
        return None
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
    total = 0
    for a, b in zip(text, text[1:] + " ", strict=True):
        v = values[a]
        total += -v if b != " " and values[b] > v else v
    return total


def page_value(text: str) -> tuple[bool, int | None]:
    """(is a page number, its value): ``14`` and ``iv`` have one, ``A-3`` none."""
    if text.isdigit() and len(text) <= 4:
        return True, int(text)
    if _PAGE.match(text):
        return True, None
    roman = _roman(text)
    return roman is not None, roman


def entry(line: Line) -> Entry | None:
    """The TOC entry ``line`` reads as (title, then its page number set apart at the
    right), or None."""
    words = line.words
    last = words[-1]
    page = last.text
    texts = [w.text for w in words[:-1]]
    is_page, value = page_value(page)
    glued = None if is_page else _GLUED.match(page)
    if glued is not None:  # "Introduction.....3" or "......3" as one word
        page = glued["page"]
        is_page, value = page_value(page)
        texts += [glued["label"]] if glued["label"] else []
    if not is_page:
        return None
    dots = 0
    while texts and _LEADER_WORD.match(texts[-1]):  # ". . . ." or "......" apart
        dots += len(texts.pop())
    tail = _TRAILING_LEADER.search(texts[-1]) if texts else None
    if tail:  # "Introduction......" then the number
        dots += 3
        texts[-1] = texts[-1][: tail.start()].rstrip()
    leaders = glued is not None or dots >= 3
    label = " ".join(t for t in texts if t)
    if sum(ch.isalpha() for ch in label) < 3 or len(label) > 250:
        return None
    if not leaders:
        before = words[-2]
        if last.x0 - before.x1 < 2.0 * max(last.size, before.size):
            return None  # "Note 5", "fiscal 2023": a number inside the title
    return Entry(label, page, value, last.x1, leaders)


def is_heading(text: str) -> bool:
    """True for "Table of Contents", "Contents", "Index", "List of Tables" (and
    "… (continued)", "… Page")."""
    return bool(_HEADING.match(" ".join(text.split())))


def is_page_header(text: str) -> bool:
    """True for the header of a TOC's page-number column: "Page", "Pages", "Page No."."""
    return bool(_PAGE_HEADER.match(text.strip()))


def _covered(line: Line, links: Sequence[Box]) -> bool:
    """True when most of the line's words sit inside links to other pages."""
    if not links:
        return False
    inside = 0
    for w in line.words:
        cx, cy = (w.x0 + w.x1) / 2, w.cy
        if any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in links):
            inside += 1
    return 2 * inside >= len(line.words) and sum(ch.isalpha() for ch in line.text) >= 3


def _aligned(entries: Sequence[Entry], size: float) -> bool:
    """The page numbers end at one x (right-aligned column), most of them."""
    middle = statistics.median(e.right for e in entries)
    near = sum(abs(e.right - middle) <= 1.5 * size for e in entries)
    return near >= 0.75 * len(entries)


def _ascending(entries: Sequence[Entry], max_page: int) -> bool:
    """Numbers within range that never decrease (one slip in six entries allowed), with
    two or more distinct values unless leaders say what they are."""
    values = [e.value for e in entries if e.value is not None]
    if any(v < 1 or v > max_page for v in values):
        return False
    drops = sum(1 for a, b in itertools.pairwise(values) if b < a)
    if 6 * drops > len(values):
        return False
    leaders = sum(e.leaders for e in entries)
    return len(set(values)) >= 2 or 2 * leaders >= len(entries)


@dataclass(frozen=True, slots=True)
class ContentsSpan:
    """A TOC in a page's lines, ``[start, end)``, as rows (title, page number; part
    headings with no number), with its heading and its "Page" column header."""

    start: int
    end: int
    rows: tuple[tuple[str, str], ...]
    caption: tuple[str, ...] = ()
    header: str = ""


def find_contents(
    lines: Sequence[Line],
    *,
    links: Sequence[Box] = (),
    hints: ContentsHints | None = None,
) -> list[ContentsSpan]:
    """The runs of lines that form tables of contents (see the module's docstring).

    Args:
        lines: a page's lines, top to bottom.
        links: boxes of the page's links to other pages of the same document.
        hints: where the page sits in its document.
    """
    hints = hints or ContentsHints()
    read = [entry(ln) for ln in lines]
    wrapped = [False] * len(lines)  # the first line of a title that ends on the next
    for k in range(1, len(lines)):
        above, here = lines[k - 1], lines[k]
        if read[k - 1] is None and _continues(above, here):
            joined = entry(Line(above.words + here.words))  # "… ended October 29," "2023 3"
            if joined is not None:
                read[k], wrapped[k - 1] = joined, True
    linked = [_covered(ln, links) for ln in lines]
    spans: list[ContentsSpan] = []
    i = 0
    while i < len(lines):
        if read[i] is None and not linked[i]:
            i += 1
            continue
        first = i - 1 if i and wrapped[i - 1] else i
        last, misses, j = i, 0, i + 1
        while j < len(lines):
            gap = lines[j].y0 - lines[j - 1].y1
            if gap > 3.0 * max(lines[j].size, lines[j - 1].size):
                break
            if read[j] is not None or linked[j]:
                last, misses = j, 0
            elif not wrapped[j]:
                misses += 1
                if misses > 3 or len(lines[j].text) > 200:
                    break
            j += 1
        end = last + 1
        start = _head(lines, first)
        if _is_contents(
            lines, read=read, linked=linked, start=start, first=first, end=end, hints=hints
        ):
            spans.append(_span(lines, read, wrapped, start=start, first=first, end=end))
        i = end
    return spans


def _span(
    lines: Sequence[Line],
    read: Sequence[Entry | None],
    wrapped: Sequence[bool],
    *,
    start: int,
    first: int,
    end: int,
) -> ContentsSpan:
    caption: list[str] = []
    header = ""
    rows: list[tuple[str, str]] = []
    for k in range(start, end):
        text = lines[k].text
        found = read[k]
        if found is not None:
            rows.append((found.label, found.page))
        elif wrapped[k]:
            continue  # its title is the next line's entry
        elif k < first and is_heading(text):
            caption.append(text)
        elif k < first and is_page_header(text):
            header = text.strip()
        else:
            rows.append((text, ""))
    return ContentsSpan(start, end, tuple(rows), tuple(caption), header)


def _continues(above: Line, here: Line) -> bool:
    """True when ``here`` carries on the title of the line ``above`` (no number of its
    own): set close under it, at its indent, starting lower case or with a figure, or
    after a line left open ("… ended October 29,", "… and")."""
    if here.y0 - above.y1 > 0.6 * here.size or _LIST_LABEL.match(here.text):
        return False
    if not above.x0 - here.size <= here.x0 <= above.x0 + 4 * here.size:
        return False
    start = here.text[:1]
    return start.islower() or start.isdigit() or bool(_OPEN_END.search(above.text))


def _head(lines: Sequence[Line], first: int) -> int:
    """Where a TOC whose first entry starts at ``lines[first]`` starts: at its heading
    or its "Page" header when one sits just above (part headings between them included)."""
    start = first
    for k in range(first - 1, max(-1, first - 6), -1):
        if lines[k + 1].y0 - lines[k].y1 > 4.0 * max(lines[k].size, lines[k + 1].size):
            break
        text = lines[k].text
        if is_heading(text):
            return k
        if is_page_header(text):
            start = k
        elif len(text) > 100 or text.rstrip().endswith((".", ";", ":")):
            break
    return start


def _is_contents(
    lines: Sequence[Line],
    *,
    read: Sequence[Entry | None],
    linked: Sequence[bool],
    start: int,
    first: int,
    end: int,
    hints: ContentsHints,
) -> bool:
    numbered = [e for e in read[first:end] if e is not None]
    heading = any(
        is_heading(lines[k].text) or is_page_header(lines[k].text) for k in range(start, first)
    )
    links = sum(linked[first:end])
    if len(numbered) >= 3:
        size = statistics.median(ln.size for ln in lines[first:end])
        if not (_aligned(numbered, size) and _ascending(numbered, hints.max_page)):
            return False
        numbered_links = sum(linked[k] for k in range(first, end) if read[k] is not None)
        return (
            heading
            or hints.follows_contents
            or 2 * sum(e.leaders for e in numbered) >= len(numbered)
            or 2 * numbered_links >= len(numbered)
        )
    # entries that are links without page numbers: an exhibit index links to the pages
    # of its exhibits too, so links alone must be a heading's or the first pages'
    return (
        links >= 3
        and links >= 0.6 * (end - first)
        and (heading or hints.follows_contents or (hints.early and links >= 5))
    )


def contents_table(lines: Sequence[Line], span: ContentsSpan) -> Table:
    """The TOC as a table marked ``contents``: a row per entry (title, page), part
    headings as rows of their own, the "Page" header as the column header."""
    return Table(
        tuple(lines[span.start : span.end]),
        ("", span.header),
        span.rows,
        span.caption,
        contents=True,
    )


# --- PDFium ------------------------------------------------------------------------------

_GOTO = 1  # PDFACTION_GOTO


def page_links(page: Any, place: Callable[[Box], Box]) -> list[Box]:
    """Boxes (reading coordinates) of a PDFium page's links to pages of the same document.

    Args:
        page: a ``pypdfium2.PdfPage``.
        place: turns a PDF-space box (left, bottom, right, top) into reading coordinates.
    """
    import pypdfium2.raw as c  # type: ignore[import-untyped]  # ships no type information

    doc = page.pdf.raw
    pos, link, rect = ctypes.c_int(0), c.FPDF_LINK(), c.FS_RECTF()
    out: list[Box] = []
    while c.FPDFLink_Enumerate(page.raw, ctypes.byref(pos), ctypes.byref(link)):
        inside = bool(c.FPDFLink_GetDest(doc, link))
        if not inside:
            action = c.FPDFLink_GetAction(link)
            inside = bool(action) and c.FPDFAction_GetType(action) == _GOTO
        if inside and c.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)):
            x0, y0, x1, y1 = place((rect.left, rect.bottom, rect.right, rect.top))
            out.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return out
