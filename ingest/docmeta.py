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
- the period (read by :mod:`ingest.periods`): the period-end date a cover or the metadata
  states ("For the quarterly period ended July 1, 2023", "fiscal year ended September 30,
  2023", "period ending 2023-07-01"); the fiscal quarter or year the text states most often
  among those consistent with that end date ("third quarter of fiscal 2023", "Q3 2023"); a
  quarter or fiscal year the file name or metadata title names ("2023 Q3", "FY2018"). For
  contracts and other undated periods, the date the document is made "as of" or "effective".

Each period source adds keys (:mod:`retrieval.steering`) with a grade — named by the file
name or metadata, stated by the text, derived from a date — so search can prefer the
document whose period a question names most explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ingest.periods import merge_grades, named_periods, read_period
from retrieval import (
    doc_type_of,
    name_keys,
    word_set,
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
#: Tokens of file names that look like tickers but are not.
_NOT_TICKERS = word_set(
    "FY Q1 Q2 Q3 Q4 H1 H2 AR QR KQ PDF DOC DOCX FINAL DRAFT COPY SCAN REV NEW OLD EN US UK EU "
    "USA ESG CSR SEC IR INC LLC LTD PLC AG SA NV"
)


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
    stated_in = (body or first_pages)[:MAX_BODY_CHARS]
    period = read_period(first_pages, stated_in, meta_text, stem, annual_form=annual_form)
    merge_grades(period.grades, named_periods(stem, lone_year=True))
    merge_grades(period.grades, named_periods(meta.get("title", ""), lone_year=False))
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
