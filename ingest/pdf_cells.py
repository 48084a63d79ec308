"""Words into the cells of a table, and rows of cells into a :class:`~ingest.pdf_tables.Table`.

Shared by the two readers of ruled tables: grids (:mod:`ingest.pdf_grids`) and tables
ruled with horizontal lines only (:mod:`ingest.pdf_rows`). Pure functions over
:class:`~ingest.pdf_tables.Word` boxes, tested without PDFs. A cell's lines are joined
into one text (hyphenated words mended), so a wrapped cell stays one cell; the first
rows head the columns when they look like a header (bold where the body is not, or no
figures in them), a header cell spanning columns names each of them, and a label
spanning rows starts each of its rows.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.pdf_tables import Line, Table, Word

_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


# --- words into cells ---------------------------------------------------------------------


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


def column_of(xs: Sequence[float], w: Word) -> int:
    """The column, between the boundaries ``xs``, that holds the word's centre."""
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
        columns = {column_of(xs, w) for w in ln}
        # a label's second line ("adjustments" under "Acquisition-related") goes on its row
        first = next((w.text for w in ln if column_of(xs, w) == used[0]), "")
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


# --- rows into a table --------------------------------------------------------------------


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
