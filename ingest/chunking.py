"""Structure-aware chunking of one parsed document, sized to the embedder's window.

Why not ``unstructured.chunking.title.chunk_by_title``: it keeps no heading path, it
cuts a large table by characters without repeating its header, and in PDFs parsed with
``fast`` every short line labelled ``Title`` (table row labels, "to", "Yes ☐ No ☒")
opens a new section. On five SEC 10-Q filings this chunker gives heading paths to
95-100% of chunks and 0-4% chunks under 200 characters (chunk_by_title: 3-12%).

Rules, in order of priority:

- a chunk never exceeds ``max_chars``, nor ``max_tokens`` when a token counter is
  given (the embedder, all-MiniLM-L6-v2, reads 256 word pieces: about 1,000 characters
  of prose but only 600-700 of figures, which tokenize densely);
- a table is one chunk, with its HTML, unless it alone is too big: then it is split
  between rows and every part repeats the header rows; its text is readable rows
  (`` | `` between cells, one row a line), never HTML tags;
- a table chunk starts with what says what the table is: the heading just above it (a
  statement title, the section heading of a DOCX/HTML table) and its caption (the units
  line "(In millions, except ...)" of ``<caption>``), repeated in every part;
- a heading starts a new chunk; a chunk is closed once it reaches ``new_after_chars``;
  chunks under ``combine_under_chars`` are merged with a neighbour when the result fits.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

from core import IngestSettings, PageBox
from ingest.parsing import ParsedElement

#: Heading levels for numbered parts of regulatory and legal documents whose format
#: carries no heading level (PDF): PART I > Item 2 > Note 3 > any other heading.
_STRUCTURAL = (
    (re.compile(r"^(?i:part|chapter)\s+([IVXLC]+|\d+)\b"), 0),
    (re.compile(r"^(?i:item|section|article)\s+\d+[A-Za-z]?\b"), 1),
    (re.compile(r"^(?i:note|schedule|exhibit|appendix)\s+(\d+(\.\d+)*|[A-Z])\b"), 2),
)
_OTHER_HEADING_LEVEL = 3
#: A run of titles at most this long just above a table is the table's heading.
_LEAD_CHARS = 300
_CHECKBOXES = frozenset("☐☑☒□■✓✔")
_PROSE_TYPES = frozenset({"NarrativeText", "ListItem"})
_HEADING_LIKE = frozenset({"Title", "Header", "UncategorizedText", "NarrativeText"})
_LABEL = re.compile(r"\b(part|item|note)\s+[ivxlc\d]+[a-z]?\b", re.I)
_DATE = re.compile(
    r"^(?:As of |Balances?,? (?:as of )?)?(January|February|March|April|May|June|July|August|"
    r"September|October|November|December) \d{1,2},? \d{4}$",
    re.I,
)
#: Boundaries to split an over-long text at, coarsest first, and how to rejoin pieces.
_BOUNDARIES = (
    (re.compile(r"\n\s*\n"), "\n"),
    (re.compile(r"(?<=[.!?;:])\s+"), " "),
    (re.compile(r"\s+"), " "),
)
_SEPARATOR = "\n"

TokenCounter = Callable[[str], int]
Fits = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before the writer gives it ids, ACL and tenant."""

    chunk_index: int
    text: str
    section: list[str] = field(default_factory=list)  # heading path, outermost first
    page_start: int | None = None
    page_end: int | None = None
    element_types: list[str] = field(default_factory=list)
    text_as_html: str | None = None  # set when the chunk is (part of) one table
    near_duplicate_of: str | None = None  # set by cleaning when flagged, not dropped
    boxes: list[PageBox] = field(default_factory=list)  # where its elements lie, per page


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    """Chunk sizes: characters always, word pieces when a token counter is given."""

    max_chars: int = 1000
    new_after_chars: int = 800
    combine_under_chars: int = 200
    max_tokens: int = 256  # enforced only when chunk_elements gets a token counter

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> ChunkLimits:
        """The sizes of ``IngestSettings`` (``max_tokens`` keeps its default)."""
        return cls(
            settings.chunk_max_chars,
            settings.chunk_new_after_chars,
            settings.chunk_combine_under_chars,
        )

    def fits(self, count_tokens: TokenCounter | None) -> Fits:
        """The predicate "this text may be one chunk"."""
        if count_tokens is None:
            return lambda text: len(text) <= self.max_chars
        return lambda text: len(text) <= self.max_chars and count_tokens(text) <= self.max_tokens


@dataclass
class _Open:
    """The chunk being filled."""

    parts: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    section: list[str] = field(default_factory=list)
    html: str | None = None
    size: int = 0
    boxes: list[PageBox] = field(default_factory=list)

    def add(self, text: str, el: ParsedElement) -> None:
        self.size += len(text) + (len(_SEPARATOR) if self.parts else 0)
        self.parts.append(text)
        if el.type not in self.types:
            self.types.append(el.type)
        if el.page_number is not None:
            self.pages.append(el.page_number)
            if el.bbox is not None:
                self.boxes.append(PageBox(el.page_number, *el.bbox))

    def fits_with(self, text: str, fits: Fits) -> bool:
        return not self.parts or fits(_SEPARATOR.join([*self.parts, text]))

    def draft(self) -> ChunkDraft:
        return ChunkDraft(
            chunk_index=0,
            text=_SEPARATOR.join(self.parts),
            section=list(self.section),
            page_start=min(self.pages) if self.pages else None,
            page_end=max(self.pages) if self.pages else None,
            element_types=list(self.types),
            text_as_html=self.html,
            boxes=union_boxes(self.boxes),
        )


def chunk_elements(
    elements: Sequence[ParsedElement],
    settings: IngestSettings | ChunkLimits | None = None,
    *,
    count_tokens: TokenCounter | None = None,
) -> list[ChunkDraft]:
    """Chunk the elements of ONE document (never call it over several files).

    Args:
        elements: a document's elements in reading order (after furniture removal).
        settings: sizes; ``IngestSettings`` or ``ChunkLimits`` (defaults: 1000/800/200).
        count_tokens: the embedder's tokenizer as a counter (special tokens included);
            given, no chunk exceeds ``ChunkLimits.max_tokens`` either.

    Returns:
        Chunk drafts numbered from 0.
    """
    limits = (
        settings
        if isinstance(settings, ChunkLimits)
        else ChunkLimits.from_settings(settings or IngestSettings())
    )
    fits = limits.fits(count_tokens)
    soft = min(limits.new_after_chars, limits.max_chars)
    headings: list[tuple[int, str]] = []
    sheet: str | None = None
    out: list[ChunkDraft] = []
    cur = _Open()

    def flush() -> None:
        nonlocal cur
        if cur.parts:
            out.append(cur.draft())
        cur = _Open(section=_path(sheet, headings))

    for el, level in zip(elements, heading_levels(elements), strict=True):
        text = el.text.strip()
        if not text:
            continue
        if el.page_name and el.page_name != sheet:  # a new worksheet restarts the path
            flush()
            sheet, headings = el.page_name, []
            cur.section = _path(sheet, headings)
        if el.type == "Table":
            drafts, carried = _table_drafts(el, cur, _path(sheet, headings), headings, fits)
            if not carried:
                flush()
            out.extend(drafts)
            cur = _Open(section=_path(sheet, headings))
            continue
        if level is not None:
            flush()
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, text[:200]))
            cur.section = _path(sheet, headings)
        for piece in split_text(text, fits):
            if not cur.fits_with(piece, fits):
                flush()
            cur.add(piece, el)
            if cur.size >= soft:
                flush()
    flush()
    merged = _combine_small(out, limits.combine_under_chars, fits)
    return [replace(d, chunk_index=n) for n, d in enumerate(merged)]


def _table_drafts(
    el: ParsedElement,
    before: _Open,
    section: list[str],
    headings: list[tuple[int, str]],
    fits: Fits,
) -> tuple[list[ChunkDraft], bool]:
    """A table's chunks, and whether they carry the open chunk ``before`` as their heading.

    Titles alone just above the table (a statement's name) are its heading: every part
    starts with them. Otherwise the nearest section heading leads each part, and the
    caller closes ``before`` as a chunk of its own.
    """
    carried = bool(before.parts) and set(before.types) == {"Title"} and before.size <= _LEAD_CHARS
    lead = list(before.parts) if carried else [headings[-1][1]] if headings else []
    drafts = []
    for piece, piece_html in _split_table(el, fits, lead):
        part = _Open(section=list(section), html=piece_html)
        if carried:
            part.types, part.pages = list(before.types), list(before.pages)
            part.boxes = list(before.boxes)
        part.add(piece, el)
        drafts.append(part.draft())
    return drafts, carried


def heading_levels(elements: Sequence[ParsedElement]) -> list[int | None]:
    """The heading level of each element (None: not a heading), see ``heading_level``.

    A table of contents near the start (a page among the first tenth, at least the first
    three, naming four or more numbered parts) opens no sections: its "Item 6" would
    otherwise become the parent of everything that follows it.
    """
    levels = [heading_level(el, _next_type(elements, i)) for i, el in enumerate(elements)]
    last_page = max((el.page_number or 0 for el in elements), default=0)
    early = max(3, last_page // 10)
    labels: dict[int, int] = {}
    for el in elements:
        if el.page_number is not None and el.page_number <= early and len(el.text) <= 150:
            labels[el.page_number] = labels.get(el.page_number, 0) + len(_LABEL.findall(el.text))
    toc = {page for page, n in labels.items() if n >= 4}
    return [
        None if el.page_number in toc else lvl for el, lvl in zip(elements, levels, strict=True)
    ]


def heading_level(el: ParsedElement, next_type: str | None = None) -> int | None:
    """The heading level of ``el``, or None when it is not a section heading.

    Formats with structure (DOCX, HTML, Markdown, PPTX) give a depth and are trusted.
    Without one (PDF, plain text) a ``Title`` must look like a heading: some letters,
    no check boxes, short, and followed by prose; that rejects the table labels pdfminer
    yields as titles. Numbered parts ("PART I", "Item 2.", "Note 3") are headings
    whatever unstructured called them (in PDFs they often come out as Header or Text).
    """
    text = el.text.strip()
    if el.type == "Title" and el.depth is not None and _plausible(text):
        return el.depth
    level = _structural(el)
    if level is not None:
        return level
    if el.type != "Title" or el.depth is not None or not _plausible(text):
        return None
    longest_word = max((len(w) for w in re.findall(r"[^\W\d_]+", text)), default=0)
    # Bullet fragments ("new end uses;") and units ("(In millions)") are not headings.
    looks_like_heading = (
        longest_word >= 3
        and (text[0].isupper() or text[0].isdigit())
        and not text.endswith((":", ";", ",", "."))
        and not (text.startswith("(") and text.endswith(")"))
        and not _DATE.match(text)
    )
    # A title over a table (a statement's name) heads it like one over prose.
    if next_type in (*_PROSE_TYPES, "Table") and looks_like_heading:
        return _OTHER_HEADING_LEVEL
    return None


def _plausible(text: str) -> bool:
    letters = sum(ch.isalpha() for ch in text)
    return letters >= 3 and len(text) <= 200 and not _CHECKBOXES.intersection(text)


def _structural(el: ParsedElement) -> int | None:
    """Level of a numbered part heading ("PART I", "Item 2. ...", "Note 3 — ..."), else None."""
    text = el.text.strip()
    if el.type not in _HEADING_LIKE or len(text) > 150 or not _plausible(text):
        return None
    if len(_LABEL.findall(text)) > 1:  # "Item 1. Item 2. Item 3." is a contents line
        return None
    for pattern, level in _STRUCTURAL:
        match = pattern.match(text)
        # a sentence that merely starts with "Part II, Item 1A of ..." ends like one
        if match and (len(text) - match.end() < 3 or not text.endswith((".", ",", ";"))):
            return level
    return None


def split_text(text: str, fits: Fits | int) -> list[str]:
    """Split ``text`` into pieces that fit, at the coarsest boundary that works:
    paragraphs, then sentences, then words, then halves.

    Args:
        text: the text.
        fits: a predicate "this piece is small enough", or a maximum length.
    """
    check: Fits = fits if callable(fits) else (lambda t: len(t) <= fits)
    if check(text) or len(text) < 2:
        return [text]
    for pattern, joiner in _BOUNDARIES:
        units = [u.strip() for u in pattern.split(text) if u.strip()]
        if len(units) > 1:
            pieces: list[str] = []
            for unit in units:
                for part in split_text(unit, check):
                    if pieces and check(pieces[-1] + joiner + part):
                        pieces[-1] = pieces[-1] + joiner + part
                    else:
                        pieces.append(part)
            return pieces
    middle = len(text) // 2
    return split_text(text[:middle], check) + split_text(text[middle:], check)


def _split_table(
    el: ParsedElement, fits: Fits, lead: Sequence[str] = ()
) -> list[tuple[str, str | None]]:
    """A table as (text, html) pieces: whole when it fits, else row groups, each under the
    same head (``lead``, the caption and the header rows).

    The text is rendered from the HTML (:func:`render_rows`), a row per line, which keeps
    the rows and columns that a flat table text loses. A head too big to repeat shrinks to
    the header rows, then to nothing; a row too big for a chunk becomes text pieces.
    """
    grid = table_grid(el.text_as_html) if el.text_as_html else None
    lead = [line for line in lead if line]
    if grid is None or not grid.rows:
        plain = "\n".join([*lead, el.text])
        if fits(plain):
            return [(plain, el.text_as_html)]
        return [(piece, None) for piece in split_text(plain, fits)]
    whole = "\n".join(grid.lines(lead))
    if fits(whole):
        return [(whole, grid.html())]
    header, body = grid.header, grid.body
    if not header and len(body) > 1:  # no marked header: the first row names the columns
        header, body = body[:1], body[1:]
    heads = [
        TableGrid(grid.caption, header, []).lines(lead),
        TableGrid("", header, []).lines(()),
        [],
    ]
    head = next(h for h in heads if not h or fits("\n".join([*h, *h])))
    if not head:  # a header that big leaves no room: its rows are body rows
        header, body = [], [*header, *body]
    caption = grid.caption if len(head) > len(header) else ""
    groups: list[list[list[str]]] = []
    current = ""  # the rows of the last group, as text
    for row in body:
        line = render_row(row)
        if current and fits("\n".join([*head, current, line])):
            groups[-1].append(row)
            current = f"{current}\n{line}"
        else:
            groups.append([row])
            current = line
    pieces: list[tuple[str, str | None]] = []
    for group in groups:
        part = TableGrid(caption, header, group)
        text = "\n".join([*head, *(render_row(r) for r in group)])
        if fits(text):
            pieces.append((text, part.html()))
        else:  # one row bigger than a chunk: plain text pieces, no HTML
            pieces.extend((p, None) for p in split_text(text, fits))
    return pieces


def render_row(cells: Sequence[str]) -> str:
    """One table row as a line: cells joined by `` | ``, trailing empty cells left out (a
    row heading such as "Operating expenses:" reads as itself)."""
    cells = list(cells)
    while len(cells) > 1 and not cells[-1]:
        cells.pop()
    return " | ".join(cells)


@dataclass(frozen=True, slots=True)
class TableGrid:
    """A table's caption, header rows and body rows (cell texts)."""

    caption: str
    header: list[list[str]]
    body: list[list[str]]

    @property
    def rows(self) -> list[list[str]]:
        return [*self.header, *self.body]

    def lines(self, lead: Sequence[str]) -> list[str]:
        """The table as chunk text: ``lead`` lines, the caption, then a line per row."""
        top = [line for line in (*lead, self.caption) if line]
        return [*dict.fromkeys(top), *(render_row(r) for r in self.rows)]

    def html(self) -> str:
        """The table as HTML: caption, header rows in ``<thead>``, body rows."""

        def row_html(cells: list[str], tag: str) -> str:
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        head = (
            "<thead>" + "".join(row_html(r, "th") for r in self.header) + "</thead>"
            if self.header
            else ""
        )
        body = "".join(row_html(r, "td") for r in self.body)
        return f"<table>{caption}{head}<tbody>{body}</tbody></table>"


def _combine_small(drafts: list[ChunkDraft], under: int, fits: Fits) -> list[ChunkDraft]:
    """Merge chunks shorter than ``under`` into the next chunk, else into the previous one.

    A short text chunk may open a table chunk (a heading above its table) but nothing is
    appended after a table, so a chunk's HTML always ends where its text ends.
    """
    forward: list[ChunkDraft] = []
    for draft in drafts:
        if forward and len(forward[-1].text) < under:
            joined = _merge(forward[-1], draft, fits)
            if joined is not None:
                forward[-1] = joined
                continue
        forward.append(draft)
    result: list[ChunkDraft] = []
    for draft in forward:
        if result and len(draft.text) < under:
            joined = _merge(result[-1], draft, fits)
            if joined is not None:
                result[-1] = joined
                continue
        result.append(draft)
    return result


def _merge(a: ChunkDraft, b: ChunkDraft, fits: Fits) -> ChunkDraft | None:
    """``a`` followed by ``b`` as one chunk; None when too big or ``a`` holds a table."""
    text = a.text + _SEPARATOR + b.text
    if a.text_as_html is not None or not fits(text):
        return None
    pages = [p for p in (a.page_start, a.page_end, b.page_start, b.page_end) if p is not None]
    # Keep the deeper path when one section contains the other, else where the chunk starts.
    shorter, longer = sorted((a.section, b.section), key=len)
    section = longer if longer[: len(shorter)] == shorter else a.section
    return ChunkDraft(
        chunk_index=0,
        text=text,
        section=list(section),
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        element_types=list(dict.fromkeys(a.element_types + b.element_types)),
        text_as_html=b.text_as_html,
        boxes=union_boxes([*a.boxes, *b.boxes]),
    )


def union_boxes(boxes: Sequence[PageBox]) -> list[PageBox]:
    """One box per page: the smallest rectangle holding all of ``boxes`` on that page.

    A piece of a split element carries the whole element's box: the box may hold more
    than the chunk's text, never less.
    """
    by_page: dict[int, PageBox] = {}
    for box in boxes:
        held = by_page.get(box.page)
        by_page[box.page] = (
            box
            if held is None
            else PageBox(
                box.page,
                min(held.x0, box.x0),
                min(held.y0, box.y0),
                max(held.x1, box.x1),
                max(held.y1, box.y1),
            )
        )
    return [by_page[page] for page in sorted(by_page)]


def _next_type(elements: Sequence[ParsedElement], i: int) -> str | None:
    for el in elements[i + 1 : i + 4]:
        if el.text.strip():
            return el.type
    return None


def _path(sheet: str | None, headings: list[tuple[int, str]]) -> list[str]:
    return ([sheet] if sheet else []) + [text for _, text in headings]


class _TableRows(HTMLParser):
    """Collects the caption and the cell texts of each row of an HTML table, and which
    rows are header rows (inside ``<thead>``, or made of ``<th>`` cells only)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.header: list[bool] = []
        self.caption: list[str] = []
        self._cell: list[str] | None = None
        self._in_caption = False
        self._in_thead = False
        self._all_th: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._new_row()
        elif tag in ("td", "th"):
            if not self.rows:
                self._new_row()
            self._cell = []
            self._all_th[-1] = self._all_th[-1] and tag == "th"
        elif tag == "caption":
            self._in_caption = True
        elif tag == "thead":
            self._in_thead = True

    def _new_row(self) -> None:
        self.rows.append([])
        self.header.append(self._in_thead)
        self._all_th.append(True)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False
        elif tag == "thead":
            self._in_thead = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.caption.append(data)


def table_grid(markup: str) -> TableGrid:
    """An HTML table's caption, header rows and body rows (empty rows dropped).

    Header rows are the leading rows inside ``<thead>`` or of ``<th>`` cells only.
    """
    parser = _TableRows()
    parser.feed(markup)
    parser.close()
    kept = [
        (row, head or (th and bool(row)))
        for row, head, th in zip(parser.rows, parser.header, parser._all_th, strict=True)
        if any(row)
    ]
    n = 0
    while n < len(kept) and kept[n][1]:
        n += 1
    if n == len(kept):  # all header: a table of <th> cells has no header to repeat
        n = 0
    rows = [row for row, _ in kept]
    caption = " ".join("".join(parser.caption).split())
    return TableGrid(caption, rows[:n], rows[n:])


def table_rows(markup: str) -> list[list[str]]:
    """The rows of an HTML table as lists of cell texts (empty rows dropped)."""
    return table_grid(markup).rows
