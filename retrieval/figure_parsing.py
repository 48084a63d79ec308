"""Figures as texts write them: in an answer (:func:`parse_figures`) and in the packed
context the model read (:func:`context_figures`: prose figures, and table cells with their
row, row heading and column).

``$1.6 billion``, ``(1,124)``, ``35.8%``, ``21,213`` are figures; years, the day of a
date, references ("Note 10", "Q3", "10-Q"), citation markers and bare one-digit numbers
are not. A table's units ("(in millions)") scale its cells, except percentages and
per-share rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.context import parse_blocks
from retrieval.figure_words import MONTH_BEFORE, periods
from retrieval.tables import TableText, read_table

_SCALE_WORDS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE_ABBREVIATIONS = {"k": 1e3, "m": 1e6, "mn": 1e6, "b": 1e9, "bn": 1e9}
_FIGURE = re.compile(
    r"(?:(?P<cur>\$|US\$|USD\s?)\s?)?(?P<open>\()?(?P<sign>[-−])?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<close>\))?"
    r"(?:\s?(?P<pct>%|percent\b|per\s?cent\b)"
    r"|\s?(?P<word>thousand|million|billion|trillion)s?\b"
    r"|(?P<abbr>(?-i:K|M|B|bn|mn))\b)?",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_REFERENCE_BEFORE = re.compile(
    r"\b(?:note|item|part|page|p\.|pp\.|section|rule|form|exhibit|level)\s+$", re.I
)
_TIMES_BEFORE = re.compile(r"(?:×|\*|\\times|\bx|\btimes)\s*$")
_CELL = re.compile(
    r"(?P<open>\()?(?P<cur>\$)?\s*(?P<open2>\()?(?P<sign>[-−])?"
    r"(?P<num>\d[\d,]*(?:\.\d+)?)\)?\s*(?P<pct>%)?\)?"
)


# --- figures as written ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stated:
    """A figure as a text writes it: ``$1.6 billion``, ``(1,124)``, ``35.8%``."""

    text: str
    start: int
    end: int
    number: float  # the digits' value as written, unsigned
    decimals: int
    scale: float | None  # from a scale word ("billion": 1e9); None when none is written
    percent: bool
    currency: bool
    negative: bool = False

    @property
    def value(self) -> float:
        """The amount: the number times its scale word, negative in parentheses or with a minus."""
        value = self.number * (self.scale or 1.0)
        return -value if self.negative else value


def _is_figure(text: str, m: re.Match[str]) -> bool:
    """Leave out years, days of a date, references ("Note 10", "Q3", "10-Q"), the 100 a
    ratio is multiplied by, and bare one-digit numbers."""
    num = m.group("num")
    plain = num.replace(",", "")
    unit = bool(m.group("cur") or m.group("pct") or m.group("word") or m.group("abbr"))
    before, after = text[: m.start("num")], text[m.end("num") : m.end("num") + 2]
    attached = before[-1:].isalnum() or before[-1:] in ("/", "_") or re.match(r"-?[A-Za-z]", after)
    if attached and not (m.group("abbr") or m.group("pct") or m.group("word")):
        return False
    if after[:1] == "/" or re.search(r"\d/$", before):
        return False  # 7/1/2023
    if plain in ("100", "1000") and _TIMES_BEFORE.search(before[-8:]) and not m.group("cur"):
        return False  # "× 100", "* 100%": what makes a ratio a percentage
    if unit:
        return True
    not_figure = (
        re.fullmatch(r"(?:19|20)\d\d", plain) is not None  # a year
        or MONTH_BEFORE.search(before[-12:]) is not None  # a day: "July 1"
        or _REFERENCE_BEFORE.search(before[-10:]) is not None  # "Note 10"
    )
    return not not_figure and (len(plain.replace(".", "").lstrip("0")) >= 2 or "." in plain)


def parse_figures(text: str) -> list[Stated]:
    """The figures of ``text`` in order (citation markers, years, dates and references left out)."""
    clean = _MARKER.sub(lambda m: " " * len(m.group(0)), text)
    out = []
    for m in _FIGURE.finditer(clean):
        if not _is_figure(clean, m):
            continue
        num = m.group("num")
        word = (m.group("word") or "").lower()
        abbr = (m.group("abbr") or "").lower()
        scale = _SCALE_WORDS.get(word) or _SCALE_ABBREVIATIONS.get(abbr)
        # A parenthesis is a negative only when it closes around the number: "(1,124)".
        negative = bool(m.group("sign")) or bool(m.group("open") and m.group("close"))
        start = m.start("num") if m.group("open") and not m.group("close") else m.start()
        end = m.end()
        if m.group("close") and not m.group("open"):  # "(about $5 million)": not ours
            end = m.end("num")
        figure = clean[start:end].rstrip()
        out.append(
            Stated(
                text=text[start : start + len(figure)],
                start=start,
                end=start + len(figure),
                number=float(num.replace(",", "")),
                decimals=len(num.partition(".")[2]),
                scale=scale,
                percent=bool(m.group("pct")),
                currency=bool(m.group("cur")),
                negative=negative,
            )
        )
    return out


# --- figures of the context --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceFigure:
    """A figure of a context passage: a table cell (with its row and column) or prose."""

    source: int
    text: str
    number: float
    decimals: int
    scale: float | None  # None: the passage does not say its units
    percent: bool
    row: str | None = None
    column: str | None = None
    table_years: frozenset[int] = frozenset()
    section: str | None = None  # the row heading above ("Gross margin percentage:")

    @property
    def value(self) -> float:
        return self.number * (self.scale or 1.0)

    @property
    def where(self) -> str | None:
        """The row as a reader names it: its heading, then its label."""
        if self.section and self.row:
            return f"{self.section.rstrip(':')}: {self.row}"
        return self.row


def _prose_figures(n: int, text: str) -> Iterable[SourceFigure]:
    for s in parse_figures(text):
        yield SourceFigure(n, s.text, s.number, s.decimals, s.scale, s.percent)


def _cell(text: str) -> re.Match[str] | None:
    return _CELL.fullmatch(text.strip())


def _table_figures(n: int, table: TableText) -> Iterable[SourceFigure]:
    for line in table.lead:
        yield from _prose_figures(n, line)
    years = frozenset(y for h in table.header for y in periods(h).years)
    scale = table.scale
    section = None
    for row in table.rows:
        if len(row) < 2:
            section = row[0] or section
            continue
        label = row[0]
        per_unit = re.search(r"\bper[\s-]share\b|\bratio\b|\bshares\b|%", label, re.I)
        yield from _prose_figures(n, label)
        for j, cell in enumerate(row[1:], start=1):
            m = _cell(cell)
            if m is None:
                continue
            column = table.header[j] if j < len(table.header) else None
            percent = bool(m.group("pct"))
            num = m.group("num")
            yield SourceFigure(
                source=n,
                text=cell.strip(),
                number=float(num.replace(",", "")),
                decimals=len(num.partition(".")[2]),
                scale=1.0 if percent or per_unit else scale,
                percent=percent,
                row=label or None,
                column=column or None,
                table_years=years,
                section=section,
            )


def context_figures(context: str) -> list[SourceFigure]:
    """Every figure of a packed context text (:func:`retrieval.context.pack_context`)."""
    out: list[SourceFigure] = []
    for n, body in parse_blocks(context):
        table = read_table(body)
        if table is None:
            out.extend(_prose_figures(n, body))
        else:
            out.extend(_table_figures(n, table))
    return out
