"""Document metadata read at ingest: who issued a document, what kind it is, which period it covers.

Pure functions over the text of the first pages, the file's own metadata (PDF info:
title, subject, keywords, author) and the file name. Nothing here is specific to one
kind of document; each fact has several sources, tried from the most to the least
explicit:

- ``issuer``: the organisation a cover names as the filer ("Apple Inc." above
  "(Exact name of registrant as specified in its charter)", or any "(Name of …
  company/issuer/registrant)" label); else the first line of the first page that is an
  organisation's name (ends in Inc., Corporation, Ltd, LLC, plc, GmbH, …); else an
  organisation named in the metadata (title, subject, keywords). Parties a contract names
  ("between Acme Corp. and Widget LLC") join ``parties``. A ticker-like token of the file
  name ("2023 Q3 AAPL.pdf") that the first pages or metadata also show joins ``tickers``.
- ``doc_type``: a form the cover names ("FORM 10-Q"), else the first type of
  :data:`retrieval.steering.DOC_TYPES` the title, metadata or file name names, else the
  head of the first page.
- the period: the period-end date a cover or the metadata states ("For the quarterly period
  ended July 1, 2023", "fiscal year ended September 30, 2023", "period ending 2023-07-01");
  the fiscal quarter or year the text states most often among those consistent with that
  end date ("third quarter of fiscal 2023", "Q3 2023"); a quarter or fiscal year the file
  name or metadata title names ("2023 Q3", "FY2018"). For contracts and other undated
  periods, the date the document is made "as of" or "effective".

Each period source adds keys (:mod:`retrieval.steering`) with a grade — named by the file
name or metadata, stated by the text, derived from a date — so search can prefer the
document whose period a question names most explicitly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from retrieval import (
    DERIVED,
    NAMED,
    STATED,
    dates_in,
    day_key,
    doc_type_of,
    end_date_keys,
    fiscal_year_mentions,
    month_key,
    name_keys,
    quarter_key,
    quarter_mentions,
    word_set,
    year_key,
)

#: How much of the document the period and fiscal mentions are read from.
FIRST_PAGES = 3
MAX_BODY_CHARS = 400_000

_SUFFIXES = (
    r"Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|Ltd\.?|Limited|L\.?L\.?C\.?|plc|"
    r"N\.V\.|S\.A\.|AG|SE|GmbH|L\.?P\.?|LLP|Holdings|Group|Bank|Trust|Foundation|University|"
    r"Institute|Association|Agency|Department|Authority"
)
#: A legal form in any case (a line of its own), or capitalised (inside running text, where
#: "a Delaware corporation" is a description, not a name).
_ORG_SUFFIX = rf"(?i:{_SUFFIXES})"
_ORG_SUFFIX_CAPITALISED = rf"(?:{_SUFFIXES}|{_SUFFIXES.upper()})"
#: A line that is an organisation's name and nothing else, or a labelled one ("Sponsor: X").
_ORG_LINE = re.compile(
    r"^(?:(?:sponsor|company|issuer|registrant|client|customer|supplier|vendor|licensor|"
    r"licensee|prepared\s+for|prepared\s+by|employer|lender|borrower)\s*:\s*)?"
    rf"(?P<name>(?:The\s+)?[A-Z0-9][\w&.'’\-]*(?:[ ,]+(?:of|and|&|the|[A-Z0-9][\w&.'’\-]*)){{0,7}}"
    rf",?\s+{_ORG_SUFFIX})$",
    re.IGNORECASE,
)
#: An organisation's name inside running text (a contract's parties, a metadata title).
_ORG_INLINE = re.compile(
    rf"\b(?:The\s+)?[A-Z][\w&.'’\-]*(?:\s+(?:of|and|&|[A-Z][\w&.'’\-]*)){{0,5}},?\s+"
    rf"{_ORG_SUFFIX_CAPITALISED}(?![\w])"
)
_ENDS_IN_SUFFIX = re.compile(rf"\s{_ORG_SUFFIX_CAPITALISED}$")
#: The label under a filer's name on a cover: "(Exact name of registrant as specified …)".
_NAME_LABEL = re.compile(
    r"^\(?\s*(?:exact\s+)?(?:legal\s+)?name\s+of\s+(?:the\s+)?"
    r"(?:registrant|company|issuer|reporting\s+entity|filer|sponsor|employer)\b",
    re.IGNORECASE,
)
#: "between X and Y", "by and between X and Y": a contract's parties.
_PARTIES = re.compile(r"\bby\s+and\s+between\b|\bbetween\b", re.IGNORECASE)
#: Organisations that produce or host documents, never their subject.
_NOT_ISSUERS = re.compile(
    r"securities\s+and\s+exchange\s+commission|stock\s+market|stock\s+exchange|nasdaq|"
    r"edgar|donnelley|workiva|kaleidoscope|equisolve|adobe|microsoft\s+word|"
    r"a\s+division\s+of|a\s+subsidiary\s+of",
    re.IGNORECASE,
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
#: Tokens of file names that look like tickers but are not.
_NOT_TICKERS = word_set(
    "FY Q1 Q2 Q3 Q4 H1 H2 AR QR KQ PDF DOC DOCX FINAL DRAFT COPY SCAN REV NEW OLD EN US UK EU "
    "USA ESG CSR SEC IR INC LLC LTD PLC AG SA NV"
)
_ANNUAL_KINDS = ("fiscal year", "year", "twelve months", "12 months")


@dataclass(frozen=True, slots=True)
class DocMeta:
    """A document's issuer, type and period, with the keys search matches questions on."""

    issuer: str | None = None
    parties: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    doc_type: str | None = None
    period_end: date | None = None
    annual: bool = False  # the period is a (fiscal) year, not a quarter
    fiscal_year: int | None = None
    fiscal_quarter: int | None = None
    dated: date | None = None  # the date a contract or letter is made, when no period ends
    period_grades: dict[str, int] = field(default_factory=dict)

    @property
    def issuer_keys(self) -> list[str]:
        """Normalised names of the issuer and parties (:func:`retrieval.steering.name_keys`)."""
        keys: list[str] = []
        for name in (self.issuer, *self.parties):
            for key in name_keys(name or ""):
                if key not in keys:
                    keys.append(key)
        return keys

    @property
    def period(self) -> str | None:
        """The period in words: "Q3 FY2023 (ended 2023-07-01)", "FY2018", "ended 2023-07-01"."""
        parts = []
        if self.fiscal_year is not None:
            quarter = f"Q{self.fiscal_quarter} " if self.fiscal_quarter else ""
            parts.append(f"{quarter}FY{self.fiscal_year}")
        if self.period_end is not None:
            ended = f"ended {self.period_end.isoformat()}"
            parts.append(f"({ended})" if parts else ended)
        elif self.dated is not None and not parts:
            parts.append(f"dated {self.dated.isoformat()}")
        return " ".join(parts) or None

    def is_empty(self) -> bool:
        return not (self.issuer or self.tickers or self.doc_type or self.period_grades)

    def as_payload(self) -> dict[str, Any]:
        """The JSON form stored in each chunk's payload under ``docmeta``."""
        return {
            "issuer": self.issuer,
            "parties": list(self.parties),
            "issuer_keys": self.issuer_keys,
            "tickers": list(self.tickers),
            "doc_type": self.doc_type,
            "period": self.period,
            "period_end": self.period_end.isoformat() if self.period_end else None,
            "fiscal_year": self.fiscal_year,
            "fiscal_quarter": self.fiscal_quarter,
            "dated": self.dated.isoformat() if self.dated else None,
            "period_grades": dict(sorted(self.period_grades.items())),
        }


def extract_docmeta(
    *,
    filename: str,
    first_pages: str,
    body: str = "",
    title: str | None = None,
    file_metadata: Mapping[str, str] | None = None,
) -> DocMeta:
    """Read a document's issuer, type and period.

    Args:
        filename: the document's file name (its stem may carry a ticker, a quarter, a year).
        first_pages: the text of the first pages (:data:`FIRST_PAGES`), lines kept.
        body: the whole text (at most :data:`MAX_BODY_CHARS` are read), for the fiscal
            quarter or year the document states; the first pages when empty.
        title: the title parsing chose.
        file_metadata: the file's own metadata (PDF info: Title, Subject, Keywords, Author).
    """
    meta = {k.lower(): str(v) for k, v in (file_metadata or {}).items() if v}
    meta_text = " \n".join(meta.get(k, "") for k in ("title", "subject", "keywords"))
    stem = Path(filename).stem.replace("_", " ")
    issuer, parties = _issuer(first_pages, meta_text, meta.get("author", ""))
    tickers = _tickers(stem, f"{first_pages}\n{meta_text}")
    if issuer is None and tickers:
        issuer = tickers[0]
    doc_type = _doc_type(first_pages, " \n".join(filter(None, [title, meta_text, stem])))
    annual_form = doc_type in ("10-K", "20-F", "annual report")
    period = _period(first_pages, body, meta_text, stem, annual_form=annual_form)
    _merge(period.grades, _named_periods(stem, lone_year=True))
    _merge(period.grades, _named_periods(meta.get("title", ""), lone_year=False))
    return DocMeta(
        issuer=issuer,
        parties=tuple(p for p in parties if p != issuer),
        tickers=tuple(tickers),
        doc_type=doc_type,
        period_end=period.end,
        annual=period.annual,
        fiscal_year=period.fiscal_year,
        fiscal_quarter=period.fiscal_quarter,
        dated=period.dated,
        period_grades=period.grades,
    )


@dataclass(frozen=True, slots=True)
class _Period:
    """The period a document's text states, and its keys with their grades."""

    end: date | None = None
    annual: bool = False
    fiscal_year: int | None = None
    fiscal_quarter: int | None = None
    dated: date | None = None
    grades: dict[str, int] = field(default_factory=dict)


def _period(
    first_pages: str, body: str, meta_text: str, stem: str, *, annual_form: bool
) -> _Period:
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
            _merge(grades, {day_key(dated): STATED, month_key(dated): STATED})
            _merge(grades, {year_key(dated.year): DERIVED})
        return _Period(annual=annual, dated=dated, grades=grades)
    _merge(grades, end_date_keys(end, annual=annual))
    # The text's own words first, else the file name's label if it can be that period.
    stated = _stated_period(body or first_pages, end, annual) or _stated_period(stem, end, annual)
    fiscal_year, fiscal_quarter = stated if stated is not None else (None, None)
    if stated is None and annual:
        fiscal_year = end.year
    if fiscal_year is not None:
        key = quarter_key(fiscal_year, fiscal_quarter) if fiscal_quarter else None
        _merge(grades, {key or year_key(fiscal_year): STATED})
        _merge(grades, {year_key(fiscal_year): STATED if annual else DERIVED})
    return _Period(end, annual, fiscal_year, fiscal_quarter, None, grades)


# --- issuer --------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip(" \t_-–—") for line in text.splitlines() if line.strip(" \t_-–—")]


def _issuer(first_pages: str, meta_text: str, author: str) -> tuple[str | None, list[str]]:
    """The filer's name and other parties the document names."""
    lines = _lines(first_pages)
    for i, line in enumerate(lines):
        if _NAME_LABEL.match(line) and i > 0:
            name = _clean_name(lines[i - 1])
            if name:
                return name, []
    head = lines[:60]
    for line in head:
        if len(line) > 120 or _NOT_ISSUERS.search(line):
            continue
        if m := _ORG_LINE.match(line):
            name = _clean_name(m.group("name"))
            if name:
                return name, _parties(first_pages)
    parties = _parties(first_pages)
    if parties:
        return parties[0], parties[1:]
    named = _inline_orgs(meta_text) or _inline_orgs(author)
    return (named[0], []) if named else (None, [])


def _parties(text: str) -> list[str]:
    """Organisations named right after "between" near the start: a contract's parties."""
    m = _PARTIES.search(text[:4000])
    if m is None:
        return []
    names: list[str] = []
    for name in _inline_orgs(text[m.end() : m.end() + 600]):
        if name not in names:
            names.append(name)
    return names[:3]


def _inline_orgs(text: str) -> list[str]:
    """Organisation names in running text, in order. A match that joins two names
    ("Umbrella Holdings Ltd and Stark Industries Inc.") is split at the "and"."""
    names = []
    for org in _ORG_INLINE.finditer(text):
        parts = re.split(r",?\s+(?:and|&)\s+", org.group(0))
        if len(parts) > 1 and not all(_ENDS_IN_SUFFIX.search(p) for p in parts):
            parts = [org.group(0)]  # "Procter and Gamble Company": one name
        for part in parts:
            name = _clean_name(part)
            if name and not _NOT_ISSUERS.search(name):
                names.append(name)
    return names


def _clean_name(raw: str) -> str | None:
    """A name as it reads best: trimmed; all capitals turned to title case ("APPLE INC." →
    "Apple Inc."); None when it is no name (too long, no letters, a sentence, nothing but
    a legal form: "the Company")."""
    name = re.sub(r"\s+", " ", raw).strip(" ,;:()[]\"'“”")
    if not name or len(name) > 80 or len(name.split()) > 9 or not re.search(r"[A-Za-z]", name):
        return None
    if re.search(r"\b(?:is|are|was|were|has|have|will|shall)\b", name):
        return None
    if not name_keys(name):
        return None
    if name.isupper():
        name = " ".join(_title_word(w) for w in name.split())
    return name


def _title_word(word: str) -> str:
    short = {"OF": "of", "AND": "and", "THE": "the", "INC.": "Inc.", "CORP.": "Corp."}
    if word in short:
        return short[word]
    if re.fullmatch(r"[A-Z]{2,5}", word) and word in {"LLC", "PLC", "AG", "SE", "LP", "LLP"}:
        return word
    return word[:1] + word[1:].lower()


def _tickers(stem: str, shown: str) -> list[str]:
    """Upper-case tokens of the file name that look like tickers and that the document
    (its first pages or metadata) also shows as a word."""
    found = []
    for token in re.findall(r"(?<![A-Za-z0-9])[A-Z]{2,5}(?![A-Za-z0-9])", stem):
        if token in _NOT_TICKERS or token in found:
            continue
        if re.search(rf"(?<![A-Za-z0-9]){token}(?![A-Za-z0-9])", shown):
            found.append(token)
    return found


# --- type ----------------------------------------------------------------------------------

_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|8-K|20-F|40-F|6-K|S-1|10-KT|10-QT)\b", re.IGNORECASE)


def _doc_type(first_pages: str, labels: str) -> str | None:
    form = _FORM.search(first_pages[:3000])
    if form:
        name = form.group(1).upper()
        return {"10-KT": "10-K", "10-QT": "10-Q", "40-F": "20-F"}.get(name, name)
    return doc_type_of(labels) or doc_type_of(first_pages[:1500])


# --- period --------------------------------------------------------------------------------


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
    text = text[:MAX_BODY_CHARS]
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


def _named_periods(label: str, *, lone_year: bool) -> dict[str, int]:
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


def _merge(into: dict[str, int], keys: Mapping[str, int]) -> None:
    """Add ``keys``; a key already there keeps the higher grade."""
    for key, grade in keys.items():
        into[key] = max(grade, into.get(key, 0))
