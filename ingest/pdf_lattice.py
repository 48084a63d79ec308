"""Ruling lines into lattices: the row and column boundaries of a ruled grid, and which
inner boundaries are drawn where.

Pure functions over :class:`~ingest.pdf_rules.Rule` boxes (reading coordinates, y growing
downwards), tested without PDFs. Collinear rules merge into :class:`Segment` s (joints
drawn with small gaps and double lines tolerated); horizontal and vertical segments that
touch one another form a lattice, whose rules and frame cut the page into row bands and
column bands. A boundary missing from a band joins two cells into one that spans them
(:func:`regions`). :mod:`ingest.pdf_grids` lays the words over it; :mod:`ingest.pdf_rows`
uses the segments of tables ruled with horizontal lines only.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.pdf_rules import Rule

#: Rules closer than this (points) are one: double lines, joints drawn with a small gap.
TOLERANCE = 3.0
#: More segments than this one way on a page is a drawing (a chart, a plan), not tables.
MAX_SEGMENTS = 1000
#: A lattice with more cells than this is graph paper, not a table.
MAX_CELLS = 5000


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


def regions(lat: Lattice) -> list[list[int]]:
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
