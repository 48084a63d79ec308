"""Table passages: read a table chunk's rows back, and write them compactly for the model.

Ingest writes a table chunk (:mod:`ingest.chunking`) as lead lines (its heading and
caption), then a line per row with cells joined by `` | `` (header rows start with an
empty cell), and a row heading with no values ("Americas:") as a line alone.
:func:`read_table` reads that text, or the compact form :func:`render_table` writes, into
a :class:`TableText`. The compact form is markdown without outer pipes::

    Note 10 – Segment Information and Geographic Data
    (in millions)
     | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022
    -|-|-
    Americas:
    Net sales | $35,383 | $37,472

- the units a header cell repeats ("(In millions)", "($ in millions)") are said once,
  above the table, unless a lead line says them already;
- columns empty in every body row are left out;
- several header rows become one (cells joined column by column);
- a delimiter row says where the header ends.

Pure functions over text; :mod:`retrieval.context` renders with them and
:mod:`retrieval.figures` reads the rendered rows back to check an answer's figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

#: "in millions" and the like: the scale of a table's amounts.
UNITS = re.compile(r"\bin\s+(thousands|millions|billions)\b", re.IGNORECASE)
SCALES = {"thousands": 1e3, "millions": 1e6, "billions": 1e9}
# A parenthesised units phrase inside a header cell: "(In millions)", "($ in millions)",
# "(In Millions; Unaudited)".
_UNITS_GROUP = re.compile(r"\s*\(([^()]*\bin\s+(?:thousands|millions|billions)\b[^()]*)\)", re.I)
_DELIMITER_CELL = re.compile(r":?-+:?")
# A cell holding one amount: "$5,990", "(13)", "$(1,124)", "17%", "(31)%", "0.25", "—".
_VALUE_CELL = re.compile(r"\(?\$?\s*\(?[-−]?\d[\d,]*(?:\.\d+)?\)?\s*%?\)?|[—–-]+")
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True, slots=True)
class TableText:
    """A table passage: its lead lines, one header cell per column, and its body rows.

    ``header[0]`` heads the row labels (often empty); a one-cell body row is a row
    heading ("Americas:"). ``units`` is the units phrase the table states ("in
    millions"), or "" when it states none.
    """

    lead: list[str]
    header: list[str]
    rows: list[list[str]]
    units: str = ""
    units_line: str = field(default="", repr=False)

    @property
    def scale(self) -> float | None:
        """What an amount of the table is multiplied by (1e6 for "in millions"); None when
        the table does not say."""
        match = UNITS.search(self.units)
        return SCALES[match.group(1).lower()] if match else None


def cells(line: str) -> list[str] | None:
    """The cells of a row line (a leading ``|`` is an empty first cell); None for a line
    without ``|``."""
    if "|" not in line:
        return None
    parts = [c.strip() for c in line.strip().split("|")]
    if len(parts) > 1 and not parts[-1] and line.rstrip().endswith("|"):
        parts.pop()
    return parts


def is_value(cell: str) -> bool:
    """Whether a cell holds one amount (a year or a date is not one)."""
    cell = cell.strip()
    return bool(cell) and not _YEAR.fullmatch(cell) and _VALUE_CELL.fullmatch(cell) is not None


def _is_delimiter(row: Sequence[str]) -> bool:
    return all(_DELIMITER_CELL.fullmatch(c) for c in row if c) and any(row)


def _header_like(row: Sequence[str]) -> bool:
    return not any(is_value(c) for c in row[1:])


def _merge_header(rows: Sequence[Sequence[str]]) -> list[str]:
    width = max(len(r) for r in rows)
    merged = []
    for j in range(width):
        parts = [r[j] for r in rows if j < len(r) and r[j]]
        merged.append(" ".join(dict.fromkeys(parts)))
    return merged


def _items(lines: Sequence[str]) -> tuple[list[list[str]], int | None]:
    """The rows of the lines (a line without ``|`` is a one-cell row), and how many come
    before a delimiter row (None when there is none)."""
    items: list[list[str]] = []
    delimiter = None
    for line in lines:
        row = cells(line)
        if row is None:
            items.append([line.strip()])
        elif _is_delimiter(row):
            delimiter = len(items) if delimiter is None else delimiter
        else:
            items.append(row)
    return items, delimiter


def _header_rows(items: Sequence[Sequence[str]], delimiter: int | None) -> int:
    """How many leading rows are header rows: those above the delimiter, else the rows of
    labels without amounts (only the first when no row has amounts)."""
    if delimiter is not None:
        return delimiter
    n = 0
    while n < len(items) and len(items[n]) > 1 and _header_like(items[n]):
        n += 1
    return 1 if n == len(items) else n


def _units(lead: Sequence[str], header: Sequence[str]) -> tuple[str, str, list[str]]:
    """The units the table states, the line to say them when only header cells do, and
    the header cells without them."""
    units = next((m.group(0) for line in lead if (m := UNITS.search(line))), "")
    units_line = ""
    kept = []
    for cell in header:
        group = _UNITS_GROUP.search(cell)
        if group and not units:
            units = UNITS.search(group.group(1)).group(0)  # type: ignore[union-attr]
            units_line = f"({group.group(1).strip()})"
        kept.append(_UNITS_GROUP.sub("", cell).strip() if group else cell)
    return units, units_line, kept


def read_table(text: str) -> TableText | None:
    """Read a table passage (a table chunk's text, or :func:`render_table`'s output).

    Returns None when ``text`` holds fewer than two row lines (not a table to read).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if "|" in line), None)
    if first is None:
        return None
    items, delimiter = _items(lines[first:])
    if sum(len(r) > 1 for r in items) < 2:
        return None
    n_head = _header_rows(items, delimiter)
    lead = [line.strip() for line in lines[:first]]
    units, units_line, header = _units(lead, _merge_header(items[:n_head]) if n_head else [])
    return TableText(lead, header, items[n_head:], units, units_line)


def _row_line(row: Sequence[str]) -> str:
    row = list(row)
    while len(row) > 1 and not row[-1]:
        row.pop()
    return " | ".join(row)


def render_table(table: TableText) -> str:
    """The compact markdown form of ``table`` (see the module docstring)."""
    width = max([len(table.header), *(len(r) for r in table.rows)])
    body = [r for r in table.rows if len(r) > 1]
    keep = [j for j in range(width) if j == 0 or not body or any(j < len(r) and r[j] for r in body)]

    def pick(row: Sequence[str]) -> list[str]:
        return [row[j] if j < len(row) else "" for j in keep]

    lines = list(table.lead)
    if table.units_line:
        lines.append(table.units_line)
    if table.header:
        header = pick(table.header)
        lines.append(" | ".join(header))
        lines.append("|".join(["-"] * len(header)))
    for row in table.rows:
        lines.append(row[0] if len(row) == 1 else _row_line(pick(row)))
    return "\n".join(lines)


def compact_table(text: str) -> str:
    """``text`` in the compact form when it reads as a table, else unchanged."""
    table = read_table(text)
    return text.strip() if table is None else render_table(table)
