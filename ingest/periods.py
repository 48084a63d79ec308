"""The period a document covers, read from its text, its metadata and its file name.

The period-end date a cover or the metadata states ("For the quarterly period ended July 1,
2023", "fiscal year ended September 30, 2023", "period ending 2023-07-01"); the fiscal
quarter or year the text states most often among those consistent with that end date
("third quarter of fiscal 2023", "Q3 2023"); a quarter or fiscal year the file name or
metadata title names ("2023 Q3", "FY2018"). For contracts and other undated periods, the
date the document is made "as of" or "effective". Each source adds keys
(:mod:`retrieval.steering`) with a grade: named by the file name or metadata, stated by
the text, derived from a date. Pure functions; :func:`ingest.docmeta.extract_docmeta`
calls them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from retrieval import (
    DERIVED,
    NAMED,
    STATED,
    dates_in,
    day_key,
    end_date_keys,
    fiscal_year_mentions,
    month_key,
    quarter_key,
    quarter_mentions,
    year_key,
)

#: A period-end statement: "quarterly period ended July 1, 2023", "fiscal year ended …".
_PERIOD_END = re.compile(
    r"\b(?P<kind>quarterly\s+period|fiscal\s+quarter|quarter|fiscal\s+year|year|"
    r"(?:three|six|nine|twelve|3|6|9|12)\s+months|half[- ]year|period)\s+"
    r"end(?:ed|ing)(?:\s+on)?\s*:?\s*",
    re.IGNORECASE,
)
_DATED = re.compile(
    r"\b(?:(?:dated|effective|made|entered\s+into)(?:\s+as)?(?:\s+of)?(?:\s+the\s+date)?"
    r"|version\s+[\w.]+\s*,?|(?:version\s+|effective\s+|issue\s+)?date)\s*:?\s*",
    re.IGNORECASE,
)
_ANNUAL_KINDS = ("fiscal year", "year", "twelve months", "12 months")


@dataclass(frozen=True, slots=True)
class Period:
    """The period a document's text states, and its keys with their grades."""

    end: date | None = None
    annual: bool = False
    fiscal_year: int | None = None
    fiscal_quarter: int | None = None
    dated: date | None = None
    grades: dict[str, int] = field(default_factory=dict)


def read_period(
    first_pages: str, text: str, meta_text: str, stem: str, *, annual_form: bool
) -> Period:
    """The period-end date the first pages (else the metadata) state, and the fiscal year
    and quarter the text (else the file name) says it closes; for a document with no
    period end, the date it is made or takes effect. ``annual_form``: the document's type
    says it covers a year."""
    grades: dict[str, int] = {}
    end, annual = _period_end(first_pages)
    if end is None:
        end, annual = _period_end(meta_text)
    annual = annual or annual_form
    if end is None:
        dated = _dated(first_pages)
        if dated is not None:
            merge_grades(grades, {day_key(dated): STATED, month_key(dated): STATED})
            merge_grades(grades, {year_key(dated.year): DERIVED})
        return Period(annual=annual, dated=dated, grades=grades)
    merge_grades(grades, end_date_keys(end, annual=annual))
    # The text's own words first, else the file name's label if it can be that period.
    stated = _stated_period(text, end, annual) or _stated_period(stem, end, annual)
    fiscal_year, fiscal_quarter = stated if stated is not None else (None, None)
    if stated is None and annual:
        fiscal_year = end.year
    if fiscal_year is not None:
        key = quarter_key(fiscal_year, fiscal_quarter) if fiscal_quarter else None
        merge_grades(grades, {key or year_key(fiscal_year): STATED})
        merge_grades(grades, {year_key(fiscal_year): STATED if annual else DERIVED})
    return Period(end, annual, fiscal_year, fiscal_quarter, None, grades)


def _period_end(text: str) -> tuple[date | None, bool]:
    """The first period-end date ``text`` states, and whether the period is a year."""
    for m in _PERIOD_END.finditer(text[:20_000]):
        tail = text[m.end() : m.end() + 40]
        found = dates_in(tail)
        if found and found[0][1] == 0:
            kind = re.sub(r"\s+", " ", m.group("kind").lower())
            return found[0][0], kind in _ANNUAL_KINDS
    return None, False


def _dated(text: str) -> date | None:
    """The date a contract or letter is made or takes effect ("dated as of March 1, 2021")."""
    for m in _DATED.finditer(text[:6000]):
        found = dates_in(text[m.end() : m.end() + 40])
        if found and found[0][1] == 0:
            return found[0][0]
    return None


def _stated_period(text: str, end: date, annual: bool) -> tuple[int, int | None] | None:
    """The fiscal (year, quarter) the text names most often among those a period ending on
    ``end`` can be: fiscal quarter q of year Y ends (4 - q) quarters before Y's last month,
    and a fiscal year Y ends in calendar year Y (or within a week after it)."""
    if annual:
        years = Counter(y for y, _, _ in fiscal_year_mentions(text) if _year_fits(y, end, 4))
        return (years.most_common(1)[0][0], None) if years else None
    quarters = Counter((y, q) for y, q, _, _ in quarter_mentions(text) if _year_fits(y, end, q))
    if not quarters:
        return None
    (year, quarter), _ = quarters.most_common(1)[0]
    return year, quarter


def _year_fits(fiscal_year: int, end: date, quarter: int) -> bool:
    """Whether quarter ``quarter`` of fiscal year ``fiscal_year`` can end on ``end``: the
    fiscal year ends in some month of calendar year ``fiscal_year`` (its last days may fall
    in the first week of the next), the quarter 3 × (4 - quarter) months earlier."""
    month = end.year * 12 + end.month - 1 - (1 if end.day <= 7 else 0)
    year_end = month + 3 * (4 - quarter)  # the month the fiscal year would end
    return year_end // 12 == fiscal_year


def named_periods(label: str, *, lone_year: bool) -> dict[str, int]:
    """Periods a file name or metadata title names: quarters and fiscal years (named);
    with ``lone_year``, a year that is the only period there (derived: "report 2018.pdf";
    a metadata title's lone year is more often the day it was made)."""
    keys: dict[str, int] = {}
    for year, quarter, _, _ in quarter_mentions(label):
        keys[quarter_key(year, quarter)] = NAMED
        keys.setdefault(year_key(year), DERIVED)
    for year, _, _ in fiscal_year_mentions(label):
        keys[year_key(year)] = NAMED
    if not keys and lone_year:
        years = set(re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", label))
        if len(years) == 1:
            keys[years.pop()] = DERIVED
    return keys


def merge_grades(into: dict[str, int], keys: Mapping[str, int]) -> None:
    """Add ``keys``; a key already there keeps the higher grade."""
    for key, grade in keys.items():
        into[key] = max(grade, into.get(key, 0))
