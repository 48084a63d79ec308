"""Tables drawn with ruling lines: grids of cells whose text may wrap inside its box.

Pure functions over :class:`~ingest.pdf_rules.Rule` and :class:`~ingest.pdf_tables.Word`
boxes (reading coordinates, y growing downwards), tested without PDFs.

The page's rules form lattices (:mod:`ingest.pdf_lattice`): row and column bands, and
cells that span bands where a rule is missing. Words go to the cell holding their centre,
and a cell's lines are joined into one text (:mod:`ingest.pdf_cells`), so a wrapped cell
stays one cell. A band without rules between its rows (a frame around an unruled body)
is cut at each line that fills the row's columns. Rules drawn around some cells of a
larger table (a statement's figures boxed, their labels beside them) make no table.

The result is a :class:`~ingest.pdf_tables.Table` like the numeric detector's, so
chunking and everything after it work unchanged; a grid that goes on over a page break
takes the header of the table it continues (:func:`continue_grid`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from ingest.pdf_cells import Cell, Row, cell_text, column_of, line_groups, rows_table, split_band
from ingest.pdf_lattice import (
    MAX_SEGMENTS,
    TOLERANCE,
    Lattice,
    lattice,
    lattices,
    regions,
    segments,
)
from ingest.pdf_rules import Rule
from ingest.pdf_tables import Table, Word

#: A cell with more lines than this is a panel of prose (a framed column), not a cell.
MAX_CELL_LINES = 30


def _grid_rows(lat: Lattice, words: Sequence[Word]) -> list[Row] | None:
    """The lattice's rows with their cells' texts; None when a cell is a panel of prose."""
    nr, nc = len(lat.ys) - 1, len(lat.xs) - 1
    region = regions(lat)
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
                    Cell(cell_text([w for w in sub if column_of(lat.xs, w) == c]), -1, False)
                    for c in range(nc)
                ]
            rows.append(Row(cells, sub))
    return rows


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
