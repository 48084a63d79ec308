"""A PDF page's text: PDFium's characters in reading coordinates, then words and lines.

Characters come from PDFium's text layer with their loose boxes (:func:`page_chars`),
turned so the page's main text direction reads left to right (landscape tables on portrait
pages included); :func:`words_from_chars` cuts them into words (PDFium's spaces, and gaps
wider than a space: this is also what un-glues "UNITED STATESSECURITIES") and
:func:`group_lines` groups words sharing a baseline into lines. The last two are pure
functions over plain boxes, tested without PDFs. :mod:`ingest.pdf_layout` lays the words
out into blocks and tables.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

from ingest.pdf_tables import Line, Word

#: One character: (text, x0, y0, x1, y1) in reading coordinates (y grows downwards).
Char = tuple[str, float, float, float, float]

_HYPHENS = {"\x02": "-", "\ufffe": "-", "\u00ad": "-"}
_BREAKS = frozenset(" \t\r\n\x00\u00a0")


# --- characters → words → lines -----------------------------------------------------------


def words_from_chars(
    chars: Sequence[Char],
    *,
    space: float = 0.15,
    bold: Callable[[int], bool] | None = None,
) -> list[Word]:
    """Words from characters in content-stream order.

    A word ends at a blank (PDFium's own or generated), where the next character leaves
    the line or goes back, and where the gap to it exceeds ``space`` × its line height
    (a space the PDF drew as a jump, not as a character).

    Args:
        chars: (text, x0, y0, x1, y1), y growing downwards; boxes of blanks are ignored.
        space: the smallest gap that separates words, as a share of the line height.
        bold: tells from a character's index whether its font is bold (first character
            of each word is asked).
    """
    words: list[Word] = []
    text: list[str] = []
    start = 0
    x0 = y0 = x1 = y1 = 0.0
    for i, (ch, a, b, c, d) in enumerate(chars):
        if ch in _BREAKS or c <= a or d <= b:
            if text and ch in _HYPHENS:
                text.append(_HYPHENS[ch])
            elif text and ch not in _BREAKS:
                continue  # an empty box inside a word (a zero-width joiner, say)
            else:
                if text:
                    words.append(_word(text, (x0, y0, x1, y1), start, bold))
                    text = []
                continue
        if text:
            h = max(y1 - y0, d - b)
            mid = (b + d) / 2
            same_line = y0 - 0.2 * h <= mid <= y1 + 0.2 * h
            if not same_line or a - x1 > space * h or a < x1 - 0.5 * h:
                words.append(_word(text, (x0, y0, x1, y1), start, bold))
                text = []
        if not text:
            start, x0, y0, x1, y1 = i, a, b, c, d
        else:
            x1, y0, y1 = max(x1, c), min(y0, b), max(y1, d)
        text.append(_HYPHENS.get(ch, ch))
    if text:
        words.append(_word(text, (x0, y0, x1, y1), start, bold))
    return words


def _word(
    text: list[str],
    box: tuple[float, float, float, float],
    start: int,
    bold: Callable[[int], bool] | None,
) -> Word:
    x0, y0, x1, y1 = box
    return Word("".join(text), x0, y0, x1, y1, y1 - y0, bold(start) if bold else False)


def group_lines(words: Sequence[Word]) -> list[Line]:
    """Words that share a baseline, as lines top to bottom, each left to right.

    A word joins a line when its vertical centre falls inside the line's band; lines are
    then ordered by their top edge.
    """
    lines: list[list[Word]] = []
    bands: list[tuple[float, float]] = []
    for w in sorted(words, key=lambda w: (w.cy, w.x0)):
        if bands and bands[-1][0] <= w.cy <= bands[-1][1]:
            lines[-1].append(w)
            continue
        lines.append([w])
        bands.append((w.y0, w.y1))
    out = [Line(tuple(sorted(ws, key=lambda w: w.x0))) for ws in lines]
    return sorted(out, key=lambda ln: (ln.y0, ln.x0))


# --- PDFium ------------------------------------------------------------------------------


def page_chars(textpage: Any, width: float, height: float) -> tuple[list[Char], float, float]:
    """A text page's characters in reading coordinates, and the page's reading width and
    height (swapped when the main text runs vertically).

    Boxes are PDFium's loose character boxes (font ascent to descent, advance width),
    which line up along a baseline whatever the glyph.
    """
    chars, turn = turned_chars(textpage, width, height)
    return chars, *((height, width) if turn in (90, 270) else (width, height))


def turned_chars(textpage: Any, width: float, height: float) -> tuple[list[Char], int]:
    """:func:`page_chars`' characters, and the turn that puts them in reading order."""
    import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]  # ships no type information

    n = textpage.count_chars()
    text = textpage.get_text_range(0, n) if n else ""
    raw = textpage.raw
    if len(text) != n:  # characters outside the BMP: read them one by one
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i) or 32) for i in range(n))
    rect = pdfium_c.FS_RECTF()
    ref = ctypes.byref(rect)
    loose = pdfium_c.FPDFText_GetLooseCharBox
    boxes: list[tuple[float, float, float, float]] = []
    for i in range(n):
        if text[i] in _BREAKS or not loose(raw, i, ref):
            boxes.append((0.0, 0.0, 0.0, 0.0))
        else:
            boxes.append((rect.left, rect.bottom, rect.right, rect.top))
    turn = _direction(text, boxes)
    chars = [(ch, *turn_box(box, turn, width, height)) for ch, box in zip(text, boxes, strict=True)]
    return chars, turn


def _direction(text: str, boxes: Sequence[tuple[float, float, float, float]]) -> int:
    """The main text direction in PDF space (0, 90, 180 or 270 degrees), by a vote of
    consecutive characters within words."""
    votes = [0, 0, 0, 0]
    for k in range(0, len(boxes) - 1, 3):  # every third pair is plenty
        (a, b, c, d), (e, f, g, h) = boxes[k], boxes[k + 1]
        if c <= a or g <= e or text[k] in _BREAKS or text[k + 1] in _BREAKS:
            continue
        dx, dy = (e + g - a - c) / 2, (f + h - b - d) / 2
        if abs(dx) >= abs(dy):
            votes[0 if dx > 0 else 2] += 1
        else:
            votes[1 if dy > 0 else 3] += 1
    return 90 * max(range(4), key=lambda i: votes[i])


def turn_box(
    box: tuple[float, float, float, float], turn: int, width: float, height: float
) -> tuple[float, float, float, float]:
    """A PDF-space box (left, bottom, right, top) in reading coordinates."""
    left, bottom, right, top = box
    if turn == 0:
        return left, height - top, right, height - bottom
    if turn == 90:  # text runs up the page; lines follow each other to the right
        return bottom, left, top, right
    if turn == 270:  # text runs down the page; lines follow each other to the left
        return height - top, width - right, height - bottom, width - left
    return width - right, bottom, width - left, top


_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")


def bold_font(textpage: Any) -> Callable[[int], bool]:
    """Whether a character's font is bold: by weight, else by name ("Arial-BoldMT"), since
    many PDFs report weights that mean nothing."""
    import pypdfium2.raw as pdfium_c

    raw, weight, info = textpage.raw, pdfium_c.FPDFText_GetFontWeight, pdfium_c.FPDFText_GetFontInfo
    buf, flags = ctypes.create_string_buffer(128), ctypes.c_int()
    ref = ctypes.byref(flags)

    def bold(i: int) -> bool:
        if weight(raw, i) >= 600:
            return True
        info(raw, i, buf, 128, ref)
        name = buf.value.lower()
        return any(n.encode() in name for n in _BOLD_NAMES)

    return bold
