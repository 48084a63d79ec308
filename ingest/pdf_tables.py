"""Tables from text geometry: rows of a page whose values line up in columns.

Pure functions over :class:`Word` boxes (page coordinates, y growing downwards), so they
are tested without PDFs. Financial statements are the model: a label at the left, then
two or more right-aligned numeric columns, a few header lines above naming the periods
("Three Months Ended", "July 1, 2023") and units ("(In millions)"). A line belongs to a
table when it has at least two cells separated by wide gaps and at least one numeric
cell; a table needs two such lines with two or more numeric columns. Columns are the
x-intervals where numeric cells of different rows overlap. A lone "$" cell is merged
into the value it precedes, so "$ 60,584" stays one cell.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

#: A numeric cell: amounts, negatives in parentheses, percentages, dashes for nil.
_NUMERIC = re.compile(r"^[$€£¥]?\s*\(?[$€£¥]?\s*[-+]?(\d[\d,]*(\.\d+)?|\.\d+)\)?\s*%?\)?$|^[—–-]+$")
_CURRENCY = frozenset("$€£¥")
_CLOSERS = frozenset({")", "%", ")%", "%)"})
_YEAR = re.compile(r"^(19|20)\d\d$")
#: A column period written as a row label: "Three Months Ended September 30,", "As of".
_PERIOD = re.compile(r"\b(?:months|weeks|years?|quarters?)\s+ended\b|^as of\b", re.I)
_UNITS = re.compile(r"\((?:[^)]*\b)?in (millions|thousands|billions)\b", re.I)


@dataclass(frozen=True, slots=True)
class Word:
    """A run of text with its box; ``size`` is the line height of its font."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    bold: bool = False

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True, slots=True)
class Line:
    """Words on one baseline, left to right."""

    words: tuple[Word, ...]

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    @property
    def y0(self) -> float:
        return min(w.y0 for w in self.words)

    @property
    def y1(self) -> float:
        return max(w.y1 for w in self.words)

    @property
    def size(self) -> float:
        return max(w.size for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class Table:
    """A detected table: header rows (one text per column), body rows (label first)."""

    lines: tuple[Line, ...]
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: tuple[str, ...] = field(default=())  # unit lines above the columns
    #: x of the column boundaries of a table drawn with rules (frame included); empty
    #: for a table found from text alone
    edges: tuple[float, ...] = field(default=())
    #: a table of contents (:mod:`ingest.pdf_contents`): navigation, not content, marked
    #: ``<table class="contents">`` so cleaning drops it
    contents: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (
            min(ln.x0 for ln in self.lines),
            min(ln.y0 for ln in self.lines),
            max(ln.x1 for ln in self.lines),
            max(ln.y1 for ln in self.lines),
        )

    def text(self) -> str:
        """One line per row, `` | `` between cells: the form chunks carry."""
        rows = ([self.header] if any(self.header) else []) + list(self.rows)
        lines = [" | ".join(c for c in row) for row in rows]
        return "\n".join([*self.caption, *lines])

    def html(self) -> str:
        """An HTML table with the header row in ``<thead>``."""
        out = ['<table class="contents">' if self.contents else "<table>"]
        if self.caption:
            out.append(f"<caption>{html.escape(' '.join(self.caption))}</caption>")
        if any(self.header):
            cells = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
            out.append(f"<thead><tr>{cells}</tr></thead>")
        out.append("<tbody>")
        for row in self.rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)


def is_numeric(text: str) -> bool:
    """True for a table value: ``1,234``, ``$ 60,584``, ``(265)``, ``12.5%``, ``—``."""
    return bool(_NUMERIC.match(text.strip()))


def cells(line: Line, gap: float = 1.0) -> list[Word]:
    """The line's words joined into cells: a cell ends where the gap exceeds ``gap`` × size.

    A currency sign always starts a cell and joins the value after it, whatever the gap;
    a closing parenthesis or percent sign set apart joins the value before it.
    """
    out: list[Word] = []
    for w in line.words:
        if out:
            prev = out[-1]
            near = w.x0 - prev.x1 <= gap * max(prev.size, w.size)
            dollar = prev.text in _CURRENCY and is_numeric(w.text)
            closing = w.text in _CLOSERS and is_numeric(prev.text + w.text)
            both_numbers = is_numeric(prev.text) and is_numeric(w.text)
            if dollar or closing or (near and not both_numbers and w.text not in _CURRENCY):
                sep = "" if dollar or closing else " "
                out[-1] = Word(
                    f"{prev.text}{sep}{w.text}",
                    prev.x0,
                    min(prev.y0, w.y0),
                    w.x1,
                    max(prev.y1, w.y1),
                    max(prev.size, w.size),
                    prev.bold,
                )
                continue
        out.append(w)
    return out


def _values(row: Sequence[Word]) -> list[Word]:
    """The numeric cells of a row (none when they are all years: a header row)."""
    values = [c for c in row if is_numeric(c.text)]
    if values and all(_YEAR.match(c.text) for c in values):
        return []
    return values


def _columns(rows: Sequence[Sequence[Word]]) -> list[tuple[float, float]]:
    """Column spans: x-intervals of numeric cells, merged where cells of rows overlap."""
    spans = sorted((c.x0, c.x1) for row in rows for c in _values(row))
    cols: list[list[float]] = []
    for x0, x1 in spans:
        if cols and x0 <= cols[-1][1]:
            cols[-1][1] = max(cols[-1][1], x1)
        else:
            cols.append([x0, x1])
    return [(a, b) for a, b in cols]


def _column_of(cell: Word, cols: Sequence[tuple[float, float]]) -> int:
    """The column a cell overlaps most (nearest by centre when it overlaps none)."""
    best, best_overlap = 0, -1.0
    for i, (a, b) in enumerate(cols):
        overlap = min(b, cell.x1) - max(a, cell.x0)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    if best_overlap > 0:
        return best
    mid = (cell.x0 + cell.x1) / 2
    return min(range(len(cols)), key=lambda i: abs((cols[i][0] + cols[i][1]) / 2 - mid))


@dataclass(frozen=True, slots=True)
class TableSpan:
    """Where a table sits in a page's lines: ``[start, end)``, its body from ``body``."""

    start: int
    body: int
    end: int


def find_tables(lines: Sequence[Line], *, max_header_lines: int = 4) -> list[TableSpan]:
    """The runs of lines that form tables (header, row headings and rows).

    A run starts at a line with two or more values, goes on through lines with values
    and short row headings ("Net sales:") and ends at prose, a wide vertical gap or more
    than three lines without values. It is a table when two of its lines have two or
    more values and its values fall into two or more columns.

    Args:
        lines: a page's lines, top to bottom.
        max_header_lines: how many lines above the body may be column headers.
    """
    split = [cells(ln) for ln in lines]
    nvalues = [len(_values(row)) if len(row) >= 2 else 0 for row in split]
    spans: list[TableSpan] = []
    i = 0
    floor = 0  # lines before this belong to an earlier table
    while i < len(lines):
        if nvalues[i] < 2:
            i += 1
            continue
        last = i
        j = i + 1
        while j < len(lines) and lines[j].y0 - lines[j - 1].y1 <= 3.0 * lines[j].size:
            if nvalues[j]:
                last = j
            elif not _label_line(split[j], split[i]) or j - last > 3:
                break
            j += 1
        end = last + 1
        cols = _columns(split[i:end])
        if sum(n >= 2 for n in nvalues[i:end]) >= 2 and len(cols) >= 2:
            body = i
            # row headings just above the first row ("Net sales:"), not a line set apart
            # from it (a running header over a table continued from the page before)
            while (
                body - 1 >= floor
                and i - body < 2
                and lines[body].y0 - lines[body - 1].y1 <= 2.0 * lines[body].size
                and _label_line(split[body - 1], split[i])
            ):
                body -= 1
            start = _header_start(lines, split, body, cols, max_lines=max_header_lines, floor=floor)
            spans.append(TableSpan(start, body, end))
            floor = end
        i = end
    return spans


def _label_line(row: Sequence[Word], first: Sequence[Word]) -> bool:
    """A row heading inside a table ("Net sales:", or the first line of a wrapped label):
    one cell that ends before the values start."""
    values = _values(first)
    return len(row) == 1 and len(row[0].text) <= 250 and bool(values) and row[0].x1 < values[0].x0


def _header_start(
    lines: Sequence[Line],
    split: Sequence[Sequence[Word]],
    body: int,
    cols: Sequence[tuple[float, float]],
    *,
    max_lines: int,
    floor: int,
) -> int:
    """The first line of the table's header: lines just above its body that sit over
    the value columns (periods, years) or state units, stopping at a wide gap."""
    left = cols[0][0]
    start = body
    for k in range(body - 1, max(floor - 1, body - 1 - max_lines), -1):
        if lines[start].y0 - lines[k].y1 > 2.0 * lines[k].size:
            break
        over_columns = any(c.x0 >= left - 2.0 * c.size for c in split[k])
        if not (over_columns or _UNITS.search(lines[k].text)):
            break
        start = k
    return start


def _header_targets(row: Sequence[Word], cols: Sequence[tuple[float, float]]) -> list[list[int]]:
    """The columns (1-based) each header cell of ``row`` names.

    A cell names the columns it overlaps (the nearest when none). When a line holds fewer
    cells than there are columns and they divide them evenly ("Three Months Ended" and
    "Six Months Ended" over four years), each cell spans its share of columns: such
    headers are often set right-aligned over the last column of their group.
    """
    first = [
        [
            i + 1
            for i, (a, b) in enumerate(cols)
            if min(b, c.x1) - max(a, c.x0) > 0 or a <= (c.x0 + c.x1) / 2 <= b
        ]
        or [_column_of(c, cols) + 1]
        for c in row
    ]
    n, k = len(cols), len(row)
    if 0 < k < n and n % k == 0:
        share = n // k
        groups = [list(range(i * share + 1, (i + 1) * share + 1)) for i in range(k)]
        if all(set(t) <= set(g) for t, g in zip(first, groups, strict=True)):
            return groups
    return first


def _header(
    rows: Sequence[Sequence[Word]], cols: Sequence[tuple[float, float]]
) -> tuple[list[str], list[str]]:
    """Header texts per column (the label column first, empty) and caption lines, from the
    lines above a table's body."""
    width = len(cols) + 1
    header = [""] * width
    caption: list[str] = []
    left = cols[0][0]
    for row in rows:
        # text that starts left of the values (a title, the units) is the caption, unless
        # it names the period of every column ("Three Months Ended September 30,")
        outside = " ".join(c.text for c in row if c.x0 < left - 2.0 * c.size)
        inside = [c for c in row if c.x0 >= left - 2.0 * c.size]
        if outside and _PERIOD.search(outside):
            for t in range(1, width):
                header[t] = f"{header[t]} {outside}".strip()
        elif outside:
            caption.append(outside)
        for c, targets in zip(inside, _header_targets(inside, cols), strict=True):
            for t in targets:
                header[t] = f"{header[t]} {c.text}".strip()
    return header, caption


def build_table(lines: Sequence[Line], body_start: int = 0) -> Table:
    """The table formed by ``lines``: header texts per column, then one row per line.

    A label that wrapped onto a second line (the continuation starts lower-case) is
    joined to its row. Unit lines ("(In millions)") become the caption.
    """
    split = [cells(ln) for ln in lines]
    cols = _columns(split[body_start:])
    width = len(cols) + 1
    header, caption = _header(split[:body_start], cols)
    rows: list[list[str]] = []
    pending = ""  # a label line waiting for its values
    for row in split[body_start:]:
        values = _values(row)
        label = " ".join(c.text for c in row if c not in values)
        if not values:
            if pending:
                rows.append([pending] + [""] * (width - 1))
            pending = label
            continue
        if pending and label[:1].islower():
            label = f"{pending} {label}"
        elif pending:
            rows.append([pending] + [""] * (width - 1))
        pending = ""
        out = [label] + [""] * (width - 1)
        for v in values:
            k = _column_of(v, cols) + 1
            out[k] = f"{out[k]} {v.text}".strip()
        rows.append(out)
    if pending:
        rows.append([pending] + [""] * (width - 1))
    return Table(tuple(lines), tuple(header), tuple(tuple(r) for r in rows), tuple(caption))
