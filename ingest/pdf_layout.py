"""A layout-true PDF parser on PDFium's characters and their boxes: the default reader of
PDFs with a text layer (``ingest.pdf_parser``; unstructured's ``fast`` path stays selectable).

unstructured's ``fast`` strategy (pdfminer's layout analysis) cuts financial statements
into a column of labels and columns of numbers. This parser keeps each table row whole:

1. characters and their boxes from PDFium's text layer, turned so the page's main text
   direction reads left to right (landscape tables on portrait pages included), cut into
   words and lines (:mod:`ingest.pdf_text`);
2. tables: grids drawn with ruling lines (:mod:`ingest.pdf_rules` reads PDFium's path
   objects, :mod:`ingest.pdf_grids` cuts them into cells, wrapped cells kept whole), then
   tables from text geometry (:mod:`ingest.pdf_tables`): rows whose values align into two
   or more columns, then tables of contents (:mod:`ingest.pdf_contents`: titles with
   their page numbers, or links to the document's pages; marked for cleaning to drop),
   then tables ruled with horizontal lines only (:mod:`ingest.pdf_rows`); each emitted
   as ONE ``Table`` element, a row per line with its label, with ``text_as_html`` and
   the header (periods, units) kept;
3. everything else cut into blocks in reading order (recursive XY-cut: full-width gaps
   first, then column gutters, so two-column pages read column by column), each block
   classified as ``Title``, ``ListItem`` or ``NarrativeText``;
4. a table that goes on over a page break takes the header of the table it continues.

The output is unstructured's element model, so :mod:`ingest.parsed` converts it like any
other format's. Step 3 (:func:`layout_page`) is a pure function over plain boxes, tested
without PDFs.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.pdf_contents import ContentsHints, contents_table, find_contents, page_links
from ingest.pdf_grids import continue_grid, grid_tables
from ingest.pdf_rows import row_tables
from ingest.pdf_rules import Rule, page_rules
from ingest.pdf_tables import Line, Table, Word, build_table, cells, find_tables
from ingest.pdf_text import bold_font, group_lines, turn_box, turned_chars, words_from_chars
from ingest.progress import page_read

_BULLET = re.compile(r"^(?:[•●▪◦‣∙·■□➢►\-–*]|\(?[a-zA-Z0-9]{1,3}[.)])\s")


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of a page in reading order: a paragraph, heading, list item or table."""

    kind: str  # "Title", "NarrativeText", "ListItem" or "Table"
    text: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in reading coordinates
    html: str | None = None
    table: Table | None = None


# --- reading order ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """What XY-cut orders: a cell of text, or a whole table."""

    x0: float
    y0: float
    x1: float
    y1: float
    word: Word | None = None
    table: Table | None = None


def _gaps(items: Sequence[_Item], vertical: bool, min_gap: float) -> list[list[_Item]]:
    """Items split where a band at least ``min_gap`` wide holds none of them."""
    key: Callable[[_Item], float] = (lambda it: it.x0) if vertical else (lambda it: it.y0)
    ordered = sorted(items, key=key)
    groups: list[list[_Item]] = [[ordered[0]]]
    reach = ordered[0].x1 if vertical else ordered[0].y1
    for it in ordered[1:]:
        lo, hi = (it.x0, it.x1) if vertical else (it.y0, it.y1)
        if lo - reach >= min_gap:
            groups.append([it])
        else:
            groups[-1].append(it)
        reach = max(reach, hi)
    return groups


def _height(items: Sequence[_Item]) -> float:
    return max(it.y1 for it in items) - min(it.y0 for it in items)


def xy_cut(items: Sequence[_Item], size: float) -> list[list[_Item]]:
    """Items in reading order as groups: cut at full-width gaps (taller than about half a
    line) first, then at column gutters (wider than 1.5 lines) of regions taller than
    two lines, recursively."""
    if len(items) <= 1:
        return [list(items)]
    bands = _gaps(items, vertical=False, min_gap=0.45 * size)
    if len(bands) > 1:
        return [g for band in bands for g in xy_cut(band, size)]
    if _height(items) > 2.5 * size:
        columns = _gaps(items, vertical=True, min_gap=1.5 * size)
        # a column is at least two lines tall: a label beside a heading is not a column
        if len(columns) > 1 and all(_height(col) >= 1.8 * size for col in columns):
            return [g for col in columns for g in xy_cut(col, size)]
    return [list(items)]


# --- blocks ---------------------------------------------------------------------------------


def layout_page(
    words: Sequence[Word],
    rules: Sequence[Rule] = (),
    *,
    links: Sequence[tuple[float, float, float, float]] = (),
    hints: ContentsHints | None = None,
) -> list[Block]:
    """One page's words (and ruling lines) as blocks in reading order: tables, headings,
    list items, prose. Grids drawn with rules are found first, then tables from text, then
    tables of contents (:mod:`ingest.pdf_contents`, helped by the boxes of ``links`` to
    other pages and by ``hints``), then tables ruled with horizontal lines only."""
    if not words:
        return []
    size = statistics.median(w.size for w in words)
    grids, words = grid_tables(words, rules)
    items = [_Item(*t.box, table=t) for t in grids]
    lines = group_lines(words)
    taken = [False] * len(lines)
    for span in find_tables(lines):
        table = build_table(lines[span.start : span.end], span.body - span.start)
        x0, y0, x1, y1 = table.box
        items.append(_Item(x0, y0, x1, y1, table=table))
        for k in range(span.start, span.end):
            taken[k] = True
    free = [ln for ln, done in zip(lines, taken, strict=True) if not done]
    contents = find_contents(free, links=links, hints=hints)
    for found in contents:
        toc = contents_table(free, found)
        items.append(_Item(*toc.box, table=toc))
    inside = {k for found in contents for k in range(found.start, found.end)}
    free = [ln for k, ln in enumerate(free) if k not in inside]
    ruled, rest = row_tables(free, rules)
    items += [_Item(*t.box, table=t) for t in ruled]
    for ln in rest:
        items.extend(_Item(c.x0, c.y0, c.x1, c.y1, word=c) for c in cells(ln, gap=1.5))
    blocks: list[Block] = []
    for group in xy_cut(items, size):
        blocks.extend(_blocks(group, size))
    return blocks


def _blocks(group: Sequence[_Item], size: float) -> Iterator[Block]:
    """A reading-order group as blocks: its tables, and its text split where the font
    changes or a list item starts."""
    words: list[Word] = []
    for item in sorted(group, key=lambda it: (it.y0, it.x0)):
        if item.table is None:
            if item.word is not None:
                words.append(item.word)
            continue
        yield from _text_blocks(group_lines(words), size)
        words = []
        t = item.table
        yield Block("Table", t.text(), (item.x0, item.y0, item.x1, item.y1), t.html(), t)
    yield from _text_blocks(group_lines(words), size)


def _text_blocks(lines: Sequence[Line], size: float) -> Iterator[Block]:
    run: list[Line] = []
    for ln in lines:
        if run and (_style(ln) != _style(run[-1]) or _BULLET.match(ln.text)):
            yield _text_block(run, size)
            run = []
        run.append(ln)
    if run:
        yield _text_block(run, size)


def _style(line: Line) -> tuple[int, bool]:
    """Font size (rounded to half points of line height) and weight of a line's first word."""
    return round(line.words[0].size * 2), line.words[0].bold


def _text_block(lines: Sequence[Line], size: float) -> Block:
    text = lines[0].text
    for ln in lines[1:]:
        nxt = ln.text
        if text.endswith("-") and nxt[:1].islower() and text[-2:-1].isalpha():
            text = text[:-1] + nxt
        else:
            text = f"{text} {nxt}"
    box = (
        min(ln.x0 for ln in lines),
        min(ln.y0 for ln in lines),
        max(ln.x1 for ln in lines),
        max(ln.y1 for ln in lines),
    )
    return Block(_classify(lines, text, size), text, box)


def _classify(lines: Sequence[Line], text: str, size: float) -> str:
    """Title: short, few lines, larger or bold; ListItem: starts with a bullet or number."""
    if _BULLET.match(text) and len(text) > 3:
        return "ListItem"
    letters = sum(ch.isalpha() for ch in text)
    first = lines[0].words[0]
    prominent = first.size >= 1.15 * size or all(w.bold for ln in lines for w in ln.words)
    heading_end = not text.endswith((".", ",", ";")) or re.match(r"^(?i:item|part|note)\b", text)
    if len(lines) <= 2 and len(text) <= 150 and letters >= 3 and prominent and heading_end:
        return "Title"
    return "NarrativeText"


# --- pages ------------------------------------------------------------------------------------


def page_blocks(page: Any, hints: ContentsHints | None = None) -> tuple[list[Block], float, float]:
    """A PDFium page's blocks in reading order, with its reading width and height;
    ``hints`` say where the page sits in its document (for tables of contents)."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        chars, turn = turned_chars(textpage, width, height)
        words = words_from_chars(chars, bold=bold_font(textpage))
    finally:
        textpage.close()
    rules: list[Rule] = []
    links: list[tuple[float, float, float, float]] = []
    if words:
        rules = page_rules(page, lambda box: turn_box(box, turn, width, height))
        links = page_links(page, lambda box: turn_box(box, turn, width, height))
    w, h = (height, width) if turn in (90, 270) else (width, height)
    return layout_page(words, rules, links=links, hints=hints), w, h


#: OCRs one PDFium page (the page, its 1-based number): its words, displayed width and
#: height (see :func:`ingest.ocr.ocr_pdf_page`).
PageOcr = Callable[[Any, int], tuple[list[Word], float, float]]


def partition_pdf_layout(
    data: bytes,
    *,
    filename: str | None = None,
    password: str | None = None,
    ocr: PageOcr | None = None,
    ocr_pages: Sequence[int] | None = None,
) -> list[Any]:
    """Parse a PDF into unstructured elements, page by page.

    A table that continues on the next page without a header of its own takes the
    header of the table it continues (same number of columns; the page's first table,
    after at most one block or running headers; the table it continues was the last of
    its page but for a footer). Tables of contents are found with the page's position
    in the document (:class:`~ingest.pdf_contents.ContentsHints`).

    Args:
        data: the PDF's bytes.
        filename: put in each element's metadata.
        password: opens an encrypted PDF.
        ocr: reads a page without a text layer (see :data:`PageOcr`). None: such pages
            give nothing.
        ocr_pages: 1-based pages to OCR (default: those whose text layer has no words).

    Returns:
        ``Title``, ``NarrativeText``, ``ListItem`` and ``Table`` elements with page
        number, coordinates (points, origin top left) and, for tables, ``text_as_html``.
    """
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    pdf = pypdfium2.PdfDocument(data, password=password)
    out: list[Any] = []
    last_table: Table | None = None
    wanted = set(ocr_pages or ())
    contents = False  # the page before holds a table of contents
    try:
        pages = len(pdf)
        for index in range(pages):
            hints = ContentsHints(pages, index < max(3, pages // 10), contents)
            page = pdf[index]
            try:
                blocks, width, height = page_blocks(page, hints)
                if ocr is not None and (index + 1 in wanted or (not wanted and not blocks)):
                    words, width, height = ocr(page, index + 1)
                    blocks = layout_page(words, hints=hints)
            finally:
                page.close()
            page_read(index + 1, pages)  # the job moves by page while a PDF is read
            first = _first_table(blocks, height) if last_table is not None else None
            for n, block in enumerate(blocks):
                kept = _continued(block, last_table) if n == first and last_table else block
                out.append(block_element(kept, (index + 1, n), (width, height), filename))
            last_table = _last_table(blocks, height)
            contents = any(b.table is not None and b.table.contents for b in blocks)
    finally:
        pdf.close()
    return out


#: Page furniture: short, one or two lines, at most this share of the page tall.
_FURNITURE_CHARS, _FURNITURE_HEIGHT = 80, 0.03
#: ... and within this share of the page's top (a running header) or bottom (a footer).
_FURNITURE_BAND = 0.12
#: A footer ending in its page number: "MD&A 37", "Acme | Q3 2023 Form 10-Q | 12", "Page 3 of 9".
_FOOTER_NUMBER = re.compile(r"(?:^|\s|\|)\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$")


def _furniture(block: Block, height: float, *, top: bool) -> bool:
    """A short running header (``top``) or footer: not a table, one or two short lines,
    near the page's edge (a footer also when it ends in a page number)."""
    _, y0, _, y1 = block.box
    if block.table is not None or len(block.text) > _FURNITURE_CHARS:
        return False
    if y1 - y0 > _FURNITURE_HEIGHT * height:
        return False
    if top:
        return y1 <= _FURNITURE_BAND * height
    return y0 >= (1 - _FURNITURE_BAND) * height or bool(_FOOTER_NUMBER.search(block.text))


def _first_table(blocks: Sequence[Block], height: float) -> int | None:
    """The index of the page's first table when it may continue the last page's: the
    first or second block, or one after nothing but running headers."""
    for n, block in enumerate(blocks):
        if block.table is not None:
            if block.table.contents:
                return None
            if n <= 1 or all(_furniture(b, height, top=True) for b in blocks[:n]):
                return n
            return None
    return None


def _last_table(blocks: Sequence[Block], height: float) -> Table | None:
    """The page's last table when it may go on over the page: nothing after it but a
    footer below it (page number, running title)."""
    for n in range(len(blocks) - 1, -1, -1):
        table = blocks[n].table
        if table is not None:
            bottom = blocks[n].box[3]
            after = blocks[n + 1 :]
            if table.contents or any(b.box[1] < bottom for b in after):
                return None
            return table if all(_furniture(b, height, top=False) for b in after) else None
    return None


def _continued(block: Block, previous: Table) -> Block:
    table = block.table
    if table is not None and table.edges and previous.edges:
        table = continue_grid(table, previous)
    elif table is None or any(table.header) or len(table.header) != len(previous.header):
        return block
    else:
        table = Table(table.lines, previous.header, table.rows, previous.caption)
    return Block("Table", table.text(), block.box, table.html(), table)


def block_element(
    block: Block,
    where: tuple[int, int],
    size: tuple[float, float],
    filename: str | None,
) -> Any:
    """An unstructured element for ``block``, the ``where[1]``-th block of page ``where[0]``."""
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import (
        CoordinatesMetadata,
        ElementMetadata,
        ListItem,
        NarrativeText,
        Table,
        Title,
    )

    (page, n), (width, height) = where, size
    x0, y0, x1, y1 = block.box
    coordinates = CoordinatesMetadata(
        points=((x0, y0), (x0, y1), (x1, y1), (x1, y0)), system=PixelSpace(width, height)
    )
    metadata = ElementMetadata(
        page_number=page, coordinates=coordinates, filename=filename, text_as_html=block.html
    )
    kinds = {"Title": Title, "NarrativeText": NarrativeText, "ListItem": ListItem, "Table": Table}
    digest = hashlib.sha256(f"{page}:{n}:{block.text}".encode()).hexdigest()[:32]
    return kinds[block.kind](text=block.text, element_id=digest, metadata=metadata)
