"""Tables drawn with ruling lines: grids of cells whose text may wrap inside its box.

Pure functions over :class:`~ingest.pdf_rules.Rule` and :class:`~ingest.pdf_tables.Word`
boxes (reading coordinates, y growing downwards), tested without PDFs.

A *lattice* is horizontal and vertical rules that touch one another (joints drawn with
small gaps and double lines are tolerated); its rules, and the frame they span, cut the
page into row bands and column bands. A vertical rule missing from a row band joins two
cells into one that spans columns (likewise a missing horizontal rule: rows). Words go to
the cell holding their centre, and a cell's lines are joined into one text, so a wrapped
cell stays one cell. A band without rules between its rows (a frame around an unruled
body) is cut at each line that fills the row's columns.

The result is a :class:`~ingest.pdf_tables.Table` like the numeric detector's, so
chunking and everything after it work unchanged: the first row heads the columns when
it looks like a header (bold where the body is not, or no figures in it), a header cell
spanning columns names each of them, a label spanning rows starts each of its rows.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.pdf_rules import Rule
from ingest.pdf_tables import Line, Table, Word

#: Rules closer than this (points) are one: double lines, joints drawn with a small gap.
TOLERANCE = 3.0
#: A cell with more lines than this is a panel of prose (a framed column), not a cell.
MAX_CELL_LINES = 30
#: More segments than this one way on a page is a drawing (a chart, a plan), not tables.
MAX_SEGMENTS = 1000
#: A lattice with more cells than this is graph paper, not a table.
MAX_CELLS = 5000

_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass(frozen=True, slots=True)
class Segment:
    """Collinear rules merged: at ``at`` (y of a horizontal, x of a vertical), from ``lo``
    to ``hi`` along it."""

    at: float
    lo: float
    hi: float


def segments(rules: Sequence[Rule], *, horizontal: bool) -> list[Segment]:
    """The horizontal (or vertical) rules merged into segments: rules within
    :data:`TOLERANCE` of one another across are one line, and pieces along it that meet
    or nearly meet are one segment."""
    raw = sorted(
        ((r.y0 + r.y1) / 2, r.x0, r.x1) if horizontal else ((r.x0 + r.x1) / 2, r.y0, r.y1)
        for r in rules
        if r.horizontal == horizontal
    )
    out: list[Segment] = []
    i = 0
    while i < len(raw):
        j = i + 1
        while j < len(raw) and raw[j][0] - raw[j - 1][0] <= TOLERANCE:
            j += 1
        at = sum(p for p, _, _ in raw[i:j]) / (j - i)
        spans = sorted((lo, hi) for _, lo, hi in raw[i:j])
        lo, hi = spans[0]
        for a, b in spans[1:]:
            if a > hi + TOLERANCE:
                out.append(Segment(at, lo, hi))
                lo = a
            hi = max(hi, b)
        out.append(Segment(at, lo, hi))
        i = j
    return out


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def lattices(
    hs: Sequence[Segment], vs: Sequence[Segment]
) -> list[tuple[list[Segment], list[Segment]]]:
    """Groups of horizontal and vertical segments that touch one another (within
    :data:`TOLERANCE`), each with at least one of both."""
    parent = list(range(len(hs) + len(vs)))
    t = TOLERANCE
    order = sorted(range(len(vs)), key=lambda j: vs[j].at)
    xs = [vs[j].at for j in order]
    for i, h in enumerate(hs):
        for j in order[bisect.bisect_left(xs, h.lo - t) : bisect.bisect_right(xs, h.hi + t)]:
            v = vs[j]
            if v.lo - t <= h.at <= v.hi + t:
                a, b = _find(parent, i), _find(parent, len(hs) + j)
                parent[a] = b
    groups: dict[int, tuple[list[Segment], list[Segment]]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(_find(parent, i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(_find(parent, len(hs) + j), ([], []))[1].append(v)
    return [(h, v) for h, v in groups.values() if h and v]


def _cluster(positions: Sequence[float]) -> list[float]:
    """Positions within :data:`TOLERANCE` of their neighbour merged (their mean)."""
    out: list[list[float]] = []
    for p in sorted(positions):
        if out and p - out[-1][-1] <= TOLERANCE:
            out[-1].append(p)
        else:
            out.append([p])
    return [sum(g) / len(g) for g in out]


def _at(segs: Sequence[Segment], positions: Sequence[float]) -> list[list[Segment]]:
    """The segments at each of ``positions`` (each segment at the nearest)."""
    out: list[list[Segment]] = [[] for _ in positions]
    for s in segs:
        i = bisect.bisect(positions, s.at)
        near = [j for j in (i - 1, i) if 0 <= j < len(positions)]
        out[min(near, key=lambda j: abs(positions[j] - s.at))].append(s)
    return out


def _covered(segs: Sequence[Segment], lo: float, hi: float) -> bool:
    """Whether ``segs`` (at one position) cover at least half of ``[lo, hi]``."""
    length = sum(max(0.0, min(hi, s.hi) - max(lo, s.lo)) for s in segs)
    return length >= 0.5 * (hi - lo)


@dataclass(frozen=True, slots=True)
class Lattice:
    """Column and row boundaries, and which inner boundaries are drawn where.

    ``vsplit[r][k]``: a rule separates columns ``k - 1`` and ``k`` in row band ``r``
    (``k`` from 1); ``hsplit[k][c]``: a rule separates rows ``k - 1`` and ``k`` in column
    band ``c``. Boundaries 0 and the last are the frame, always drawn.
    """

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    vsplit: tuple[tuple[bool, ...], ...]
    hsplit: tuple[tuple[bool, ...], ...]


def lattice(hs: Sequence[Segment], vs: Sequence[Segment]) -> Lattice | None:
    """The lattice of a group of touching segments; None when it has fewer than two
    row bands or two column bands."""
    left = min(*(h.lo for h in hs), *(v.at for v in vs))
    right = max(*(h.hi for h in hs), *(v.at for v in vs))
    top = min(*(v.lo for v in vs), *(h.at for h in hs))
    bottom = max(*(v.hi for v in vs), *(h.at for h in hs))
    xs = _cluster([v.at for v in vs] + [left, right])
    ys = _cluster([h.at for h in hs] + [top, bottom])
    if len(xs) < 3 or len(ys) < 3 or (len(xs) - 1) * (len(ys) - 1) > MAX_CELLS:
        return None
    at_x, at_y = _at(vs, xs), _at(hs, ys)
    vsplit = tuple(
        tuple(k == 0 or _covered(at_x[k], ys[r], ys[r + 1]) for k in range(len(xs) - 1))
        for r in range(len(ys) - 1)
    )
    hsplit = tuple(
        tuple(k == 0 or _covered(at_y[k], xs[c], xs[c + 1]) for c in range(len(xs) - 1))
        for k in range(len(ys) - 1)
    )
    return Lattice(tuple(xs), tuple(ys), vsplit, hsplit)


# --- words into cells -------------------------------------------------------------------------


def line_groups(words: Sequence[Word]) -> list[list[Word]]:
    """Words as lines (sharing a vertical band), top to bottom, each left to right."""
    lines: list[list[Word]] = []
    band = (0.0, -1.0)
    for w in sorted(words, key=lambda w: (w.cy, w.x0)):
        if lines and band[0] <= w.cy <= band[1]:
            lines[-1].append(w)
        else:
            lines.append([w])
            band = (w.y0, w.y1)
    return [sorted(ln, key=lambda w: w.x0) for ln in lines]


def cell_text(words: Sequence[Word]) -> str:
    """A cell's words in reading order, its lines joined. A line ending in a hyphen joins
    the next without a space: "non-" + "GAAP", "mark-to-" + "market"; the hyphen goes
    where it split a plain word ("amorti-" + "zation")."""
    text = ""
    for ln in line_groups(words):
        nxt = " ".join(w.text for w in ln)
        last = text.rsplit(" ", 1)[-1]
        if last.endswith("-") and len(last) > 2 and last[-2].isalpha():
            plain = nxt[:1].islower() and "-" not in last[:-1]
            text = (text[:-1] if plain else text) + nxt
        else:
            text = f"{text} {nxt}".strip()
    return text


@dataclass(slots=True)
class Cell:
    """A cell of a row as the table will read it."""

    text: str
    key: int  # which drawn cell: the same for every band and column it spans
    spanned: bool  # a column after the first of a cell spanning columns


@dataclass(slots=True)
class Row:
    """A row of a table: a cell a column, and its words."""

    cells: list[Cell]
    words: list[Word]

    @property
    def bold(self) -> bool:
        return bool(self.words) and all(w.bold for w in self.words)


def _regions(lat: Lattice) -> list[list[int]]:
    """Each fine cell's drawn cell (the fine cell's index of its top-left member)."""
    nr, nc = len(lat.ys) - 1, len(lat.xs) - 1
    parent = list(range(nr * nc))
    for r in range(nr):
        for k in range(1, nc):
            if not lat.vsplit[r][k]:
                parent[_find(parent, r * nc + k)] = _find(parent, r * nc + k - 1)
    for k in range(1, nr):
        for c in range(nc):
            if not lat.hsplit[k][c]:
                parent[_find(parent, k * nc + c)] = _find(parent, (k - 1) * nc + c)
    roots = [_find(parent, i) for i in range(nr * nc)]
    first: dict[int, int] = {}
    for i, root in enumerate(roots):
        first.setdefault(root, i)
    return [[first[roots[r * nc + c]] for c in range(nc)] for r in range(nr)]


def _grid_rows(lat: Lattice, words: Sequence[Word]) -> list[Row] | None:
    """The lattice's rows with their cells' texts; None when a cell is a panel of prose."""
    nr, nc = len(lat.ys) - 1, len(lat.xs) - 1
    region = _regions(lat)
    by_region: dict[int, list[Word]] = {}
    by_fine: dict[tuple[int, int], list[Word]] = {}
    for w in words:
        r = bisect.bisect(lat.ys, w.cy) - 1
        c = bisect.bisect(lat.xs, (w.x0 + w.x1) / 2) - 1
        by_region.setdefault(region[r][c], []).append(w)
        by_fine.setdefault((r, c), []).append(w)
    if any(len(line_groups(ws)) > MAX_CELL_LINES for ws in by_region.values()):
        return None
    texts = {key: cell_text(ws) for key, ws in by_region.items()}
    used = [c for c in range(nc) if any((r, c) in by_fine for r in range(nr))]
    filled = sum(any((r, c) in by_fine for c in range(nc)) for r in range(nr))  # bands with text
    rows: list[Row] = []
    headed = False  # a band above has cells of its own in two columns or more
    for r in range(nr):
        band = [w for c in range(nc) for w in by_fine.get((r, c), [])]
        # rows ruled apart are rows; a band may hold several only in a table whose body
        # is one band (frame, header rule, body) under a ruled header: two columns of
        # prose under a masthead are not rows
        simple = all(region[r][c] == r * nc + c for c in range(nc))
        split = simple and filled <= 3 and headed
        subrows = split_band(band, lat.xs, used) if split else [band]
        headed = headed or sum((r, c) in by_fine and region[r][c] % nc == c for c in range(nc)) >= 2
        for sub in subrows:
            if len(subrows) == 1:
                cells = [
                    Cell(texts.get(region[r][c], ""), region[r][c], region[r][c] % nc != c)
                    for c in range(nc)
                ]
            else:
                cells = [
                    Cell(cell_text([w for w in sub if _column(lat.xs, w) == c]), -1, False)
                    for c in range(nc)
                ]
            rows.append(Row(cells, sub))
    return rows


def _column(xs: Sequence[float], w: Word) -> int:
    return bisect.bisect(xs, (w.x0 + w.x1) / 2) - 1


def split_band(band: Sequence[Word], xs: Sequence[float], used: Sequence[int]) -> list[list[Word]]:
    """A band cut into rows at each line that starts in the table's first column (not
    lower-case: that is a label's second line) and fills all but one of its columns, when
    two or more lines do: the unruled body of a framed table. Otherwise the band is one
    row whose cells wrap."""
    lines = line_groups(band)
    if len(lines) < 2 or not used:
        return [list(band)]
    need = max(2, len(used) - 1)
    full = []
    for ln in lines:
        columns = {_column(xs, w) for w in ln}
        # a label's second line ("adjustments" under "Acquisition-related") goes on its row
        first = next((w.text for w in ln if _column(xs, w) == used[0]), "")
        full.append(len(columns) >= need and first[:1] != "" and not first[:1].islower())
    if sum(full) < 2:
        return [list(band)]
    out: list[list[Word]] = []
    for ln, starts in zip(lines, full, strict=True):
        if starts or not out:
            out.append(list(ln))
        else:
            out[-1].extend(ln)
    return out


# --- rows into a table ---------------------------------------------------------------------


def has_figure(text: str) -> bool:
    """Whether a cell states a figure (a digit outside a year)."""
    return any(ch.isdigit() for ch in _YEAR.sub("", text))


def header_rows(rows: Sequence[Row]) -> int:
    """How many leading rows head the columns: the bold ones when the body is not bold,
    else the first when it holds no figure; and the rows a header cell spans into."""
    if len(rows) < 2:
        return 0
    if rows[0].bold and not all(r.bold for r in rows):
        n = 1
        while n < len(rows) - 1 and rows[n].bold:
            n += 1
    elif not any(has_figure(c.text) for c in rows[0].cells):
        n = 1
    else:
        return 0
    while n < len(rows) - 1:
        above = {c.key for row in rows[:n] for c in row.cells if c.text and c.key >= 0}
        if not any(c.key in above for c in rows[n].cells):
            break
        n += 1
    return n


def rows_table(rows: Sequence[Row], edges: Sequence[float]) -> Table | None:
    """A table from rows of cells (empty rows and columns dropped; a first row that is
    one cell across the table is its caption); None unless two rows have two or more
    cells of their own filled."""
    rows = [r for r in rows if any(c.text for c in r.cells)]
    keep = [c for c in range(len(edges) - 1) if any(r.cells[c].text for r in rows)]
    rows = [Row([r.cells[c] for c in keep], r.words) for r in rows]
    own = [sum(bool(c.text) and not c.spanned for c in r.cells) for r in rows]
    if len(keep) < 2 or sum(n >= 2 for n in own) < 2:
        return None
    caption: tuple[str, ...] = ()
    if rows[0].cells[0].key >= 0 and len({c.key for c in rows[0].cells}) == 1:
        caption, rows = (rows[0].cells[0].text,), rows[1:]
    n = header_rows(rows)
    header = [""] * len(keep)
    for i in range(len(keep)):
        seen: list[int] = []
        for row in rows[:n]:
            cell = row.cells[i]
            if cell.text and (cell.key < 0 or cell.key not in seen):
                header[i] = f"{header[i]} {cell.text}".strip()
                seen.append(cell.key)
    body = tuple(tuple("" if c.spanned else c.text for c in r.cells) for r in rows[n:])
    lines = tuple(Line(tuple(sorted(r.words, key=lambda w: w.x0))) for r in rows if r.words)
    kept_edges = (*(edges[c] for c in keep), edges[keep[-1] + 1])
    return Table(lines, tuple(header), body, caption, kept_edges)


def grid_tables(words: Sequence[Word], rules: Sequence[Rule]) -> tuple[list[Table], list[Word]]:
    """The ruled grids of a page as tables, and the words outside them.

    Args:
        words: the page's words.
        rules: the page's ruling lines, in the words' coordinates.

    Returns:
        One table per lattice of two or more rows and columns whose cells hold text in
        two or more rows; the words in none of them, in their order.
    """
    hs, vs = segments(rules, horizontal=True), segments(rules, horizontal=False)
    if not hs or not vs or not words or max(len(hs), len(vs)) > MAX_SEGMENTS:
        return [], list(words)
    tables: list[Table] = []
    taken: set[int] = set()
    for group in lattices(hs, vs):
        lat = lattice(*group)
        if lat is None:
            continue
        x0, x1, y0, y1 = lat.xs[0], lat.xs[-1], lat.ys[0], lat.ys[-1]
        inside = [
            i
            for i, w in enumerate(words)
            if i not in taken and x0 <= (w.x0 + w.x1) / 2 < x1 and y0 <= w.cy < y1
        ]
        rows = _grid_rows(lat, [words[i] for i in inside])
        table = rows_table(rows, lat.xs) if rows is not None else None
        if table is not None and not _runs_on(table, words, set(inside)):
            tables.append(table)
            taken.update(inside)
    return tables, [w for i, w in enumerate(words) if i not in taken]


def _runs_on(table: Table, words: Sequence[Word], inside: set[int]) -> bool:
    """Whether most of the table's lines go on outside its frame, on the same baseline in
    the same size: rules drawn around some cells of a larger table (a statement's figures
    boxed, their labels beside them). Prose in the next column has its own spacing."""
    x0, x1 = table.edges[0], table.edges[-1]
    outside = [w for i, w in enumerate(words) if i not in inside and not x0 <= w.x0 <= x1]
    lines = line_groups([w for row in table.lines for w in row.words])
    beside = sum(
        any(abs(w.y0 - ln[0].y0) <= 0.5 and abs(w.y1 - ln[0].y1) <= 0.5 for w in outside)
        for ln in lines
    )
    return 2 * beside > len(lines)


def continue_grid(table: Table, previous: Table) -> Table:
    """``table`` read as the continuation of ``previous`` (the table that ended the page
    before): with the same column rules it takes that table's header, and a first row of
    its own that differs from it is a body row (a grid split by a page break)."""
    same = len(table.edges) == len(previous.edges) and all(
        abs(a - b) <= 2 * TOLERANCE for a, b in zip(table.edges, previous.edges, strict=True)
    )
    if not same or table.header == previous.header:
        return table
    rows = ((table.header,) if any(table.header) else ()) + table.rows
    return Table(table.lines, previous.header, rows, previous.caption, table.edges)
