"""Tables ruled with horizontal lines only: a header rule and rules between rows (or a
top rule, a rule under the header and a bottom rule), no column rules.

Pure functions over :class:`~ingest.pdf_tables.Line` boxes and
:class:`~ingest.pdf_rules.Rule` boxes, tested without PDFs. Rules of the same extent
stacked down the page cut it into bands (and the lines just above the first rule are
the header band); the columns are where no word of any band falls, in gutters at least
a line high wide. It is a table when two bands or more lie between rules, no line of
them runs past the rules' ends, and two of its rows fill two or more columns. Rows and
header are read as for ruled grids (:mod:`ingest.pdf_cells`).

This runs on the lines the numeric detector left: statements set between rules stay its.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence

from ingest.pdf_cells import Cell, Row, cell_text, rows_table, split_band
from ingest.pdf_lattice import MAX_SEGMENTS, TOLERANCE, Segment, segments
from ingest.pdf_rules import Rule
from ingest.pdf_tables import Line, Table, Word

#: A band holding more lines than this is a stretch of page, not a row.
MAX_BAND_LINES = 12

#: Line indexes by vertical centre, and those centres.
_Order = tuple[list[int], list[float]]


def _stacks(hs: Sequence[Segment]) -> list[list[Segment]]:
    """Horizontal segments grouped by extent (both ends within twice
    :data:`TOLERANCE`), each group top to bottom, only groups of three or more (two
    bands)."""
    groups: list[list[Segment]] = []
    for h in sorted(hs, key=lambda s: (s.lo, s.hi, s.at)):
        for g in groups:
            if abs(g[0].lo - h.lo) <= 2 * TOLERANCE and abs(g[0].hi - h.hi) <= 2 * TOLERANCE:
                g.append(h)
                break
        else:
            groups.append([h])
    return [sorted(g, key=lambda s: s.at) for g in groups if len(g) >= 3]


def _runs(stack: Sequence[Segment], lines: Sequence[Line], order: _Order) -> list[list[list[int]]]:
    """Runs of two or more consecutive bands between the rules of a stack, each band as
    the indexes of its lines. A band that is empty, too tall or holds a line running past
    the rules' ends breaks a run."""
    lo, hi = stack[0].lo - TOLERANCE, stack[0].hi + TOLERANCE
    index, centres = order
    runs: list[list[list[int]]] = [[]]
    for top, bottom in itertools.pairwise(stack):
        a, b = bisect.bisect_right(centres, top.at), bisect.bisect_left(centres, bottom.at)
        inside = sorted(index[a:b])
        if 0 < len(inside) <= MAX_BAND_LINES and all(_within(lines[i], lo, hi) for i in inside):
            runs[-1].append(inside)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if len(run) >= 2]


def _within(line: Line, lo: float, hi: float) -> bool:
    return lo <= line.x0 and line.x1 <= hi


def _above(rule: Segment, lines: Sequence[Line], lo: float, hi: float) -> list[int]:
    """Up to two lines right above ``rule`` within its extent (a header over a rule)."""
    out: list[int] = []
    edge = rule.at
    for i in sorted(range(len(lines)), key=lambda i: -lines[i].y1):
        ln = lines[i]
        if ln.y1 > edge + TOLERANCE:
            continue
        if edge - ln.y1 > 0.8 * ln.size or len(out) == 2:
            break
        if not (lo <= ln.x0 and ln.x1 <= hi):
            return []
        out.append(i)
        edge = ln.y0
    return sorted(out)


def _gutters(words: Sequence[Word], lo: float, hi: float, width: float) -> list[float]:
    """Column boundaries: the middles of the x-gaps at least ``width`` wide that no word
    covers, between ``lo`` and ``hi``."""
    out: list[float] = []
    reach = None
    for w in sorted(words, key=lambda w: w.x0):
        if reach is not None and w.x0 - reach >= width:
            out.append((reach + w.x0) / 2)
        reach = w.x1 if reach is None else max(reach, w.x1)
    return [x for x in out if lo < x < hi]


def row_tables(lines: Sequence[Line], rules: Sequence[Rule]) -> tuple[list[Table], list[Line]]:
    """The tables ruled with horizontal lines only among ``lines``, and the lines left.

    Args:
        lines: a page's lines not in a table yet, top to bottom.
        rules: the page's ruling lines, in the lines' coordinates.
    """
    hs = segments(rules, horizontal=True)
    if not 3 <= len(hs) <= MAX_SEGMENTS or not lines:
        return [], list(lines)
    tables: list[Table] = []
    taken: set[int] = set()
    index = sorted(range(len(lines)), key=lambda i: lines[i].y0 + lines[i].y1)
    order = (index, [(lines[i].y0 + lines[i].y1) / 2 for i in index])
    for stack in _stacks(hs):
        for run in _runs(stack, lines, order):
            ids = [i for band in run for i in band]
            if any(i in taken for i in ids):
                continue
            first = stack[0]
            top = min(lines[i].y0 for i in run[0])
            rule = max((s for s in stack if s.at < top), key=lambda s: s.at, default=first)
            head = [
                i
                for i in _above(rule, lines, first.lo - TOLERANCE, first.hi + TOLERANCE)
                if i not in taken
            ]
            bands = [[lines[i] for i in band] for band in run]
            found = _table(first, bands, [lines[i] for i in head])
            if found is None:
                continue
            tables.append(found[0])
            taken.update(ids + (head if found[1] else []))
    return tables, [ln for i, ln in enumerate(lines) if i not in taken]


def _table(
    rule: Segment, bands: Sequence[Sequence[Line]], head: Sequence[Line]
) -> tuple[Table, bool] | None:
    """The table of ``bands`` (and of the header lines ``head`` above them when their
    words fall in two or more columns), and whether it took ``head``."""
    words = [w for band in bands for ln in band for w in ln.words]
    size = statistics.median(w.size for w in words)
    inner = _gutters(words, rule.lo, rule.hi, width=size)
    if not inner:
        return None
    head_words = [w for ln in head for w in ln.words]
    if head_words and not _fits(head_words, inner):
        head_words = []
    every = words + head_words
    edges = [min(rule.lo, *(w.x0 for w in every)), *inner, max(rule.hi, *(w.x1 for w in every))]
    ncols = len(edges) - 1

    def column(w: Word) -> int:
        return min(ncols - 1, max(0, bisect.bisect(edges, (w.x0 + w.x1) / 2) - 1))

    used = sorted({column(w) for w in words})
    rows: list[Row] = []
    parts = [head_words] if head_words else []
    for band in bands:
        band_words = [w for ln in band for w in ln.words]
        parts += split_band(band_words, edges, used)
    for part in parts:
        cells = [
            Cell(cell_text([w for w in part if column(w) == c]), -1, False) for c in range(ncols)
        ]
        if sum(bool(c.text) for c in cells) < 2:
            # a heading or a sentence between rules: with no column rules, only rows
            # that fill two columns or more show a table
            return None
        rows.append(Row(cells, part))
    body = rows[1:] if head_words else rows
    if not all(
        _aligned([[w for w in r.words if column(w) == c] for r in body], size) for c in used
    ):
        return None
    table = rows_table(rows, edges)
    return (table, bool(head_words)) if table is not None else None


def _aligned(cells: Sequence[Sequence[Word]], size: float) -> bool:
    """Whether a column's filled cells share a left edge, a right edge or a centre (to a
    line's height): columns of a table do, text that happens to sit between rules does
    not."""
    boxes = [(min(w.x0 for w in ws), max(w.x1 for w in ws)) for ws in cells if ws]
    if len(boxes) < 2:
        return True
    for edge in (
        [a for a, _ in boxes],
        [b for _, b in boxes],
        [(a + b) / 2 for a, b in boxes],
    ):
        if max(edge) - min(edge) <= size:
            return True
    return False


def _fits(words: Sequence[Word], inner: Sequence[float]) -> bool:
    """Whether header words fall in two or more columns, none across a gutter, and end
    no sentence (the last line of a paragraph just above the table)."""
    if any(w.x0 < x < w.x1 for w in words for x in inner):
        return False
    if any(w.text.endswith((".", ":", ";")) and len(w.text) > 3 for w in words):
        return False
    return len({bisect.bisect(inner, (w.x0 + w.x1) / 2) for w in words}) >= 2
