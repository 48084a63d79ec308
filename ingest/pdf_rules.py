"""Ruling lines of a PDF page from PDFium's path objects: the lines tables are drawn with.

A rule is a stroked straight line along an axis ("m ... l S"), an edge of a stroked
rectangle ("re S") or a thin filled rectangle ("re f", how many generators draw borders).
A larger filled shape (cell shading, a coloured panel) is not a rule. Rules come back in
the reading coordinates of the page's words (y growing downwards, the page turned with
its text), so :mod:`ingest.pdf_grids` can lay them over the words.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: A box (left, bottom, right, top) in PDF space → the same box in reading coordinates.
Place = Callable[[tuple[float, float, float, float]], tuple[float, float, float, float]]

#: (a, b, c, d, e, f): x' = a·x + c·y + e, y' = b·x + d·y + f.
Matrix = tuple[float, float, float, float, float, float]

_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Rule:
    """A ruling line as its box in reading coordinates (zero thickness for a stroke)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def horizontal(self) -> bool:
        return self.x1 - self.x0 >= self.y1 - self.y0


def page_rules(
    page: Any, place: Place, *, thin: float = 4.0, min_length: float = 2.0
) -> list[Rule]:
    """The ruling lines of a PDFium page (form XObjects included, two levels deep).

    Args:
        page: a ``pypdfium2.PdfPage``.
        place: turns a PDF-space box into reading coordinates (the words' turn).
        thin: the thickest filled shape, in points, still read as a line.
        min_length: shorter marks (dots, tiny squares) are not rules.
    """
    reader = _Reader(_calls(), thin, min_length)
    handle = ctypes.cast(page.raw, ctypes.c_void_p).value
    reader.objects(handle, reader.c.count, reader.c.get, _IDENTITY, depth=0)
    out: list[Rule] = []
    for box in reader.boxes:
        x0, y0, x1, y1 = place(box)
        out.append(Rule(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return out


@dataclass(frozen=True, slots=True)
class _Calls:
    """PDFium's functions for page objects, taking and returning plain addresses: a page
    carries thousands of text objects to walk past, and pypdfium2's typed pointers cost
    about a third more a call."""

    count: Any
    get: Any
    form_count: Any
    form_get: Any
    kind: Any
    bounds: Any
    matrix: Any
    draw_mode: Any
    segments: Any
    segment: Any
    point: Any
    segment_kind: Any
    closed: Any


@functools.cache
def _calls() -> _Calls:
    import pypdfium2.raw as c  # type: ignore[import-untyped]  # ships no type information

    ptr, num = ctypes.c_void_p, ctypes.c_int  # out-parameters too: addresses pass fastest

    def plain(fn: Any, restype: Any, *args: Any) -> Any:
        address = ctypes.cast(fn, ctypes.c_void_p).value
        assert address is not None
        return ctypes.CFUNCTYPE(restype, *args)(address)

    return _Calls(
        count=plain(c.FPDFPage_CountObjects, num, ptr),
        get=plain(c.FPDFPage_GetObject, ptr, ptr, num),
        form_count=plain(c.FPDFFormObj_CountObjects, num, ptr),
        form_get=plain(c.FPDFFormObj_GetObject, ptr, ptr, ctypes.c_ulong),
        kind=plain(c.FPDFPageObj_GetType, num, ptr),
        bounds=plain(c.FPDFPageObj_GetBounds, num, ptr, ptr, ptr, ptr, ptr),
        matrix=plain(c.FPDFPageObj_GetMatrix, num, ptr, ctypes.POINTER(c.FS_MATRIX)),
        draw_mode=plain(c.FPDFPath_GetDrawMode, num, ptr, ptr, ptr),
        segments=plain(c.FPDFPath_CountSegments, num, ptr),
        segment=plain(c.FPDFPath_GetPathSegment, ptr, ptr, num),
        point=plain(c.FPDFPathSegment_GetPoint, num, ptr, ptr, ptr),
        segment_kind=plain(c.FPDFPathSegment_GetType, num, ptr),
        closed=plain(c.FPDFPathSegment_GetClose, num, ptr),
    )


_PATH, _FORM = 2, 5  # FPDF_PAGEOBJ_PATH, FPDF_PAGEOBJ_FORM
_MOVETO, _BEZIERTO = 2, 1  # FPDF_SEGMENT_MOVETO, FPDF_SEGMENT_BEZIERTO


class _Reader:
    """Walks a page's objects and collects the boxes (PDF space) of its rules."""

    def __init__(self, calls: _Calls, thin: float, min_length: float) -> None:
        self.c, self.thin, self.min_length = calls, thin, min_length
        self.boxes: list[tuple[float, float, float, float]] = []
        self.floats = (ctypes.c_float * 4)()
        base, step = ctypes.addressof(self.floats), ctypes.sizeof(ctypes.c_float)
        self.refs = [base + i * step for i in range(4)]
        self.ints = (ctypes.c_int * 2)()
        base, step = ctypes.addressof(self.ints), ctypes.sizeof(ctypes.c_int)
        self.mode = (base, base + step)

    def objects(self, parent: int | None, count: Any, get: Any, outer: Matrix, depth: int) -> None:
        """Collects the rules of ``parent``'s objects (a page's, or a form's)."""
        n = count(parent)
        objects = list(map(get, itertools.repeat(parent, n), range(n)))  # map: no bytecode
        kinds = list(map(self.c.kind, objects))  # per object
        for obj, t in zip(objects, kinds, strict=True):
            if t == _PATH:
                self._path(obj, outer)
            elif t == _FORM and depth < 2:
                inner = _compose(self._matrix(obj), outer)
                self.objects(obj, self.c.form_count, self.c.form_get, inner, depth + 1)

    def _matrix(self, obj: int) -> Matrix:
        import pypdfium2.raw as c

        m = c.FS_MATRIX()
        if not self.c.matrix(obj, ctypes.byref(m)):
            return _IDENTITY
        return (m.a, m.b, m.c, m.d, m.e, m.f)

    def _path(self, obj: int, outer: Matrix) -> None:
        # PDFium keeps no object for a path painted with neither fill nor stroke ("n")
        if not self.c.bounds(obj, *self.refs):
            return
        left, bottom, right, top = self.floats[:]
        if outer != _IDENTITY:
            left, bottom, right, top = _box(outer, left, bottom, right, top)
        if min(right - left, top - bottom) <= self.thin:  # one line, or one thin rectangle
            if max(right - left, top - bottom) >= self.min_length:
                self.boxes.append((left, bottom, right, top))
            return
        self.c.draw_mode(obj, *self.mode)
        stroked = bool(self.ints[1])
        if not stroked and self.c.segments(obj) <= 5:
            return  # one filled shape (cell shading, a panel): no rule
        # several lines in one path, a rectangle's edges, or shapes and thin bars together
        matrix = _compose(self._matrix(obj), outer)
        for points, closed in self._subpaths(obj, matrix):
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            sub = (min(xs), min(ys), max(xs), max(ys))
            if min(sub[2] - sub[0], sub[3] - sub[1]) <= self.thin:
                if max(sub[2] - sub[0], sub[3] - sub[1]) >= self.min_length:
                    self.boxes.append(sub)
            elif stroked:
                self.boxes.extend(self._edges(points, closed))

    def _subpaths(self, obj: int, matrix: Matrix) -> Iterator[tuple[list[_Point], bool]]:
        """A path's subpaths as PDF-space points, and whether each is closed."""
        c = self.c
        xy = self.floats
        rx, ry = self.refs[:2]
        a, b, cc, d, e, f = matrix
        points: list[_Point] = []
        closed = False
        for i in range(c.segments(obj)):
            seg = c.segment(obj, i)
            if not c.point(seg, rx, ry):
                continue
            kind = c.segment_kind(seg)
            if kind == _MOVETO and points:
                yield points, closed
                points, closed = [], False
            px, py = xy[0], xy[1]
            points.append((a * px + cc * py + e, b * px + d * py + f, kind == _BEZIERTO))
            closed = closed or bool(c.closed(seg))
        if points:
            yield points, closed

    def _edges(
        self, points: list[_Point], closed: bool
    ) -> Iterator[tuple[float, float, float, float]]:
        """The straight, axis-aligned strokes of a subpath."""
        ends = [*points, points[0]] if closed else points
        for (ax, ay, _), (bx, by, curve) in itertools.pairwise(ends):
            if curve or (abs(ax - bx) > 0.5 and abs(ay - by) > 0.5):
                continue
            box = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
            if max(box[2] - box[0], box[3] - box[1]) >= self.min_length:
                yield box


#: A path's point in PDF space, and whether a curve reaches it.
_Point = tuple[float, float, bool]


def _compose(inner: Matrix, outer: Matrix) -> Matrix:
    """``inner`` then ``outer``."""
    a, b, c, d, e, f = inner
    p, q, r, s, t, u = outer
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _box(
    m: Matrix, left: float, bottom: float, right: float, top: float
) -> tuple[float, float, float, float]:
    a, b, c, d, e, f = m
    xs, ys = [], []
    for x, y in ((left, bottom), (left, top), (right, bottom), (right, top)):
        xs.append(a * x + c * y + e)
        ys.append(b * x + d * y + f)
    return min(xs), min(ys), max(xs), max(ys)
