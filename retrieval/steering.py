"""Steering: a question that names an issuer, a document type or a period searches those documents.

Ingest (``ingest.docmeta``) stores, in every chunk's payload under ``docmeta``, who
issued the document (``issuer_keys``: normalised names; ``tickers``), its type
(``doc_type``) and the periods it covers (``period_grades``: period key → how
explicitly the document says so). Here the same vocabulary reads a question:

- issuers: any issuer key or ticker of the corpus's own documents that the question
  names ("Apple's", "AAPL"); the index knows the issuers it holds (:class:`DocumentCatalog`);
- a document type: "10-K", "annual report", "contract", ...;
- a period: "Q3 2023", "third quarter of fiscal 2023", "FY2018", "fiscal 2022",
  "quarter ended July 1, 2023", "as of March 2023", a lone year; or "latest"/"most recent".

:func:`choose_documents` turns that into the documents to prefer: those of the named
issuer, of the named type where any is, and of the best-matching period (a period the
file name or metadata names beats one the text states, which beats one derived from a
period-end date); "latest" picks the issuer's documents with the last period end.
:class:`retrieval.search.Searcher` then boosts or soft-filters them (``search.steering``).

Period keys: ``2023Q3`` (a quarter), ``2023`` (a year), ``2023-07`` (a month),
``2023-07-01`` (a day). Pure functions except the catalog, which reads the index.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from core import Principal
from retrieval.acl import can_read
from retrieval.index import MatchValue, VectorIndex
from retrieval.index.filters import Filter

#: The payload key of a chunk's document metadata, and the marker of one chunk per document.
DOCMETA_KEY = "docmeta"
HEAD_KEY = "head"

#: How explicitly a document states a period: its file name or metadata names it, its text
#: states it, or it is derived (the calendar quarter of a period-end date).
NAMED, STATED, DERIVED = 3, 2, 1

_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_ORDINALS |= {"fourth": 4, "4th": 4}
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_Y4 = r"(?:19|20)\d{2}"
_YEAR = rf"(?P<year>{_Y4}|'\d{{2}})"  # 2023, or '23
_FY = r"(?:FY\s*|fiscal\s+(?:year\s+)?)"
_FY_YEAR = rf"{_FY}(?P<fy>{_Y4}|'?\d{{2}})"  # after FY / fiscal a bare 23 is a year too
_ORD = r"(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)"

#: Quarter mentions, each with named groups ``q`` (or ``ord``) and ``year`` (or ``fy``).
_QUARTER_PATTERNS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # third quarter of 2023, third quarter of fiscal (year) 2023, third fiscal quarter 2023
        rf"\b{_ORD}\s+(?:fiscal\s+)?quarter\s*(?:of|in|for|,)?\s*(?:the\s+)?"
        rf"(?:{_FY_YEAR}|{_YEAR})\b",
        # fiscal 2024 third quarter, FY23 third quarter
        rf"\b{_FY_YEAR}\s+{_ORD}\s+quarter\b",
        # Q3 2023, Q3-2023, Q3 FY2023, Q3 FY23, Q3'23, Q3 of 2023
        rf"\bQ(?P<q>[1-4])\s*(?:-\s*|of\s+)?(?:{_FY_YEAR}|{_YEAR})\b",
        # 2023 Q3, 2023Q3, 2023-Q3, FY2023 Q3, FY23 Q3
        rf"(?<![\w-])(?:{_FY_YEAR}|(?P<year>{_Y4}))\s*[-_ ]?\s*Q(?P<q>[1-4])\b",
        # 3Q23, 3Q 2023
        rf"\b(?P<q>[1-4])Q\s*(?P<year>{_Y4}|'?\d{{2}})\b",
    )
]
#: Fiscal years: FY2018, FY 18, fiscal 2022, fiscal year 2022, 2018 annual report.
_FISCAL_YEAR = re.compile(
    rf"\b{_FY_YEAR}\b"
    rf"|\b(?P<ay>{_Y4})\s+annual\s+report\b"
    rf"|\bannual\s+report\s+(?:for\s+|of\s+)?(?:fiscal\s+)?(?:year\s+)?(?P<ry>{_Y4})\b",
    re.IGNORECASE,
)
#: A date: July 1, 2023 / 1 July 2023 / 2023-07-01; or a month: March 2023.
_DATE = re.compile(
    rf"\b{_MONTH}\s+(?P<day>\d{{1,2}}),?\s+(?P<year>{_Y4})\b"
    rf"|\b(?P<day2>\d{{1,2}})\s+(?P<month2>[A-Za-z]{{3,9}})\.?,?\s+(?P<year2>{_Y4})\b"
    rf"|\b(?P<iy>{_Y4})-(?P<im>\d{{2}})-(?P<id>\d{{2}})\b",
    re.IGNORECASE,
)
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s+(?P<year>{_Y4})\b", re.IGNORECASE)
#: A year on its own, as a period: "in 2018", "for 2018", "during the year 2018" (not
#: "since 2019", "notes due 2029", "2018-2020").
_LONE_YEAR = re.compile(
    rf"\b(?:in|for|during|of)\s+(?:the\s+)?(?:(?:calendar\s+)?year\s+)?(?P<year>{_Y4})"
    rf"(?![\d,.]\d|\s*[-–]\s*\d)",
    re.IGNORECASE,
)
_LATEST = re.compile(r"\b(?:latest|most\s+recent|newest|current\s+quarter)\b", re.IGNORECASE)

#: Document types a question or a document may name, most specific first, and the family
#: a type belongs to: a question about an annual report also means a 10-K, and so on.
DOC_TYPES: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in [
        ("10-K", r"\b10-?K\b"),
        ("10-Q", r"\b10-?Q\b"),
        ("8-K", r"\b8-?K\b"),
        ("20-F", r"\b20-?F\b"),
        ("proxy statement", r"\bproxy\s+statement\b|\bDEF\s*14A\b"),
        ("prospectus", r"\bprospectus\b"),
        ("annual report", r"\bannual\s+report\b"),
        ("quarterly report", r"\bquarterly\s+report\b"),
        ("interim report", r"\b(?:interim|half[- ]year(?:ly)?)\s+report\b"),
        ("press release", r"\b(?:press|earnings|news)\s+release\b"),
        ("protocol", r"\bprotocol\b"),
        ("contract", r"\b(?:agreement|contract|statement\s+of\s+work)\b"),
        ("manual", r"\b(?:manual|handbook|user\s+guide)\b"),
    ]
]
DOC_FAMILIES = {
    "10-K": "annual",
    "20-F": "annual",
    "annual report": "annual",
    "10-Q": "quarterly",
    "quarterly report": "quarterly",
    "interim report": "quarterly",
}


# --- the shared vocabulary ---------------------------------------------------------------


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of ``words``."""
    return frozenset(words.split())


def quarter_key(year: int, quarter: int) -> str:
    return f"{year}Q{quarter}"


def year_key(year: int) -> str:
    return str(year)


def month_key(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def day_key(day: date) -> str:
    return day.isoformat()


def _year(text: str) -> int | None:
    digits = text.lstrip("'")
    if len(digits) == 2:
        return 2000 + int(digits)
    value = int(digits)
    return value if 1900 <= value <= 2099 else None


def quarter_mentions(text: str) -> list[tuple[int, int, int, int]]:
    """Every quarter ``text`` names: ``(year, quarter, start, end)`` in text order.

    "Q3 2023", "2023 Q3", "third quarter of (fiscal) 2023", "Q3 FY23", "3Q23" and
    "fiscal 2024 third quarter"; a span is read once (the first pattern that matches it).
    """
    found: list[tuple[int, int, int, int]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _QUARTER_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            groups = m.groupdict()
            quarter = int(groups["q"]) if groups.get("q") else _ORDINALS[groups["ord"].lower()]
            year = _year(groups.get("year") or groups.get("fy") or "")
            if year is not None:
                found.append((year, quarter, m.start(), m.end()))
                taken.append((m.start(), m.end()))
    return sorted(found, key=lambda f: f[2])


def fiscal_year_mentions(text: str) -> list[tuple[int, int, int]]:
    """Fiscal or annual years ``text`` names, outside quarter mentions: ``(year, start, end)``."""
    quarters = [(s, e) for _, _, s, e in quarter_mentions(text)]
    found = []
    for m in _FISCAL_YEAR.finditer(text):
        if any(m.start() < e and s < m.end() for s, e in quarters):
            continue
        raw = m.group("fy") or m.group("ay") or m.group("ry")
        if (year := _year(raw)) is not None:
            found.append((year, m.start(), m.end()))
    return found


def parse_date(match: re.Match[str]) -> date | None:
    """The date a :data:`_DATE` match spells, or None when it is no calendar date."""
    g = match.groupdict()
    try:
        if g.get("iy"):
            return date(int(g["iy"]), int(g["im"]), int(g["id"]))
        if g.get("month"):
            return date(int(g["year"]), _MONTHS[g["month"].lower()], int(g["day"]))
        month = _MONTHS.get((g.get("month2") or "").lower())
        if month is None:
            return None
        return date(int(g["year2"]), month, int(g["day2"]))
    except ValueError:
        return None


def dates_in(text: str) -> list[tuple[date, int, int]]:
    """Every calendar date ``text`` spells: ``(date, start, end)``."""
    return [(d, m.start(), m.end()) for m in _DATE.finditer(text) if (d := parse_date(m))]


def reporting_month(day: date) -> date:
    """The month a period ending on ``day`` reports: 52/53-week years end periods in the
    first days of the next month ("July 1, 2023" closes June)."""
    return day - timedelta(days=7) if day.day <= 7 else day


def end_date_keys(end: date, *, annual: bool = False) -> dict[str, int]:
    """The period keys a period-end date gives: the day and its month (stated); the calendar
    quarter (derived) that holds most of the quarter ending then (its middle: "October 29,
    2023" closes a quarter mostly in Q3), or for a year the calendar year that holds most of it."""
    keys = {day_key(end): STATED, month_key(end): STATED}
    keys[month_key(reporting_month(end))] = STATED
    middle = end - timedelta(days=182 if annual else 45)
    if not annual:
        keys[quarter_key(middle.year, (middle.month - 1) // 3 + 1)] = DERIVED
    keys.setdefault(year_key(middle.year), DERIVED)
    return keys


def name_keys(name: str) -> list[str]:
    """The normalised forms of an organisation's name a question may use.

    "Apple Inc." → ["apple"]; "AMAZON.COM, INC." → ["amazon com", "amazon"];
    "The Coca-Cola Company" → ["coca cola"]; legal suffixes and a leading "the" go.
    """
    words = normalise(name).split()
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    if words and words[0] == "the":
        words = words[1:]
    keys = []
    if words:
        keys.append(" ".join(words))
        if len(words) > 1 and words[-1] in ("com", "net", "org"):
            keys.append(" ".join(words[:-1]))
    return [k for k in keys if len(k) >= 3 and k not in _TOO_COMMON]


_LEGAL_SUFFIXES = word_set(
    "inc incorporated corp corporation co company ltd limited llc l c plc lp llp n v nv s a "
    "sa ag se gmbh holdings holding group the"
)
#: Words no issuer key may be alone: they would steer every question that uses them.
_TOO_COMMON = word_set(
    "the company registrant issuer group bank trust fund partners international global "
    "services systems technologies holdings"
)


def normalise(text: str) -> str:
    """Lower case, possessives dropped, every run of non-alphanumerics one space."""
    text = re.sub(r"['’]s\b", "", text.lower())
    return " ".join(re.findall(r"[a-z0-9&]+", text))


def doc_type_of(text: str) -> str | None:
    """The first document type of :data:`DOC_TYPES` that ``text`` names, or None."""
    for name, pattern in DOC_TYPES:
        if pattern.search(text):
            return name
    return None


def same_kind(wanted: str, doc_type: str | None) -> bool:
    """Whether a document of ``doc_type`` is what a question asking for ``wanted`` means."""
    if doc_type is None:
        return False
    if wanted == doc_type:
        return True
    family = DOC_FAMILIES.get(wanted)
    return family is not None and DOC_FAMILIES.get(doc_type) == family


# --- reading a question -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryMeta:
    """What a question names: period keys, a document type, whether it wants the latest."""

    periods: frozenset[str] = frozenset()
    doc_type: str | None = None
    latest: bool = False

    def __bool__(self) -> bool:
        return bool(self.periods or self.doc_type or self.latest)


def read_query(question: str) -> QueryMeta:
    """The periods, document type and recency ``question`` names (issuers: see
    :meth:`DocumentCatalog.issuers_named`)."""
    periods: set[str] = set()
    spans: list[tuple[int, int]] = []
    for year, quarter, start, end in quarter_mentions(question):
        periods.add(quarter_key(year, quarter))
        spans.append((start, end))
    for year, start, end in fiscal_year_mentions(question):
        periods.add(year_key(year))
        spans.append((start, end))
    for day, start, end in dates_in(question):
        periods |= {day_key(day), month_key(day), month_key(reporting_month(day))}
        spans.append((start, end))
    for m in _MONTH_YEAR.finditer(question):
        if not any(m.start() < e and s < m.end() for s, e in spans):
            periods.add(f"{m.group('year')}-{_MONTHS[m.group('month').lower()]:02d}")
            spans.append((m.start(), m.end()))
    if not periods:  # a lone year, e.g. "revenue in 2018": only when it is the only one
        years = {m.group("year") for m in _LONE_YEAR.finditer(question)}
        if len(years) == 1:
            periods.add(years.pop())
    return QueryMeta(
        periods=frozenset(periods),
        doc_type=doc_type_of(question),
        latest=not periods and bool(_LATEST.search(question)),
    )


# --- choosing documents -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocFacts:
    """What steering knows of one document (from its chunks' ``docmeta`` payload)."""

    doc_id: str
    tenant: str
    acl: tuple[str, ...]
    issuer_keys: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    doc_type: str | None = None
    period_end: date | None = None
    period_grades: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DocFacts | None:
        """From a chunk payload; None when it carries no document metadata."""
        meta = payload.get(DOCMETA_KEY)
        if not isinstance(meta, Mapping) or "doc_id" not in payload:
            return None
        acl = payload.get("acl")
        end = meta.get("period_end")
        try:
            period_end = date.fromisoformat(end) if isinstance(end, str) else None
        except ValueError:
            period_end = None
        grades = meta.get("period_grades")
        return cls(
            doc_id=str(payload["doc_id"]),
            tenant=str(payload.get("tenant", "")),
            acl=tuple(acl) if isinstance(acl, list) else (str(acl),),
            issuer_keys=tuple(str(k) for k in meta.get("issuer_keys") or ()),
            tickers=tuple(str(t) for t in meta.get("tickers") or ()),
            doc_type=meta.get("doc_type") if isinstance(meta.get("doc_type"), str) else None,
            period_end=period_end,
            period_grades=(
                {str(k): int(v) for k, v in grades.items()} if isinstance(grades, Mapping) else {}
            ),
        )

    def readable_by(self, principal: Principal) -> bool:
        return can_read(principal, {"tenant": self.tenant, "acl": list(self.acl)})


@dataclass(frozen=True, slots=True)
class Steering:
    """The documents a question is steered to, and why (for logs and the bench)."""

    doc_ids: frozenset[str]
    issuers: frozenset[str] = frozenset()
    doc_type: str | None = None
    periods: frozenset[str] = frozenset()
    latest: bool = False


def issuers_named(question: str, docs: Iterable[DocFacts]) -> frozenset[str]:
    """The issuer keys and tickers of ``docs`` that ``question`` names: a key of several
    words as whole words in any case; a one-word key capitalised ("Target's margin", not
    "the target margin") unless the whole question is in lower case; a ticker as a whole
    upper-case word."""
    text = f" {normalise(question)} "
    words = set(re.findall(r"[A-Za-z0-9]+", question))
    capitalised = {w.lower() for w in words if w[:1].isupper()}
    any_case = question == question.lower()
    named: set[str] = set()
    for doc in docs:
        for key in doc.issuer_keys:
            if f" {key} " in text and (" " in key or any_case or key in capitalised):
                named.add(key)
        named.update(t for t in doc.tickers if t in words)
    return frozenset(named)


def period_score(doc: DocFacts, periods: Iterable[str]) -> int:
    """How well ``doc`` matches the question's period keys: the best shared key's grade,
    then how precise the key is (a day beats a month beats a quarter beats a year); 0: none."""
    return max(
        (
            4 * doc.period_grades[k] + _PRECISION[_key_kind(k)]
            for k in periods
            if k in doc.period_grades
        ),
        default=0,
    )


_PRECISION = {"day": 3, "month": 2, "quarter": 1, "year": 0}


def _key_kind(key: str) -> str:
    if "Q" in key:
        return "quarter"
    return {10: "day", 7: "month"}.get(len(key), "year")


def choose_documents(question: str, docs: Iterable[DocFacts]) -> Steering | None:
    """The documents ``question`` is about, among ``docs``; None when it names nothing that
    narrows them (no issuer, type or period of theirs).

    Issuers first (any document of a named issuer); then a named document type, where
    some of those documents have it; then the period: the documents whose keys match the
    question's at the highest grade, or for "latest" the last period end among the named
    issuer's. A period or type that matches none of them leaves the choice as it was.
    """
    pool = list(docs)
    if not pool:
        return None
    query = read_query(question)
    named = issuers_named(question, pool)
    chosen = pool
    if named:
        chosen = [d for d in pool if named & {*d.issuer_keys, *d.tickers}]
    if query.doc_type is not None:
        typed = [d for d in chosen if same_kind(query.doc_type, d.doc_type)]
        chosen = typed or chosen
    if query.periods:
        scores = {d.doc_id: period_score(d, query.periods) for d in chosen}
        best = max(scores.values(), default=0)
        if best:
            chosen = [d for d in chosen if scores[d.doc_id] == best]
    elif query.latest and named:
        ends = [d.period_end for d in chosen if d.period_end is not None]
        if ends:
            chosen = [d for d in chosen if d.period_end == max(ends)]
    if len(chosen) == len(pool):
        return None
    return Steering(
        doc_ids=frozenset(d.doc_id for d in chosen),
        issuers=named,
        doc_type=query.doc_type,
        periods=query.periods,
        latest=query.latest,
    )


class DocumentCatalog:
    """The documents of an index with their metadata, read from one marked chunk each
    (``docmeta.head``) and re-read at most every ``refresh_s`` seconds. Thread-safe."""

    def __init__(self, index: VectorIndex, refresh_s: float = 30.0) -> None:
        self.index = index
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._docs: list[DocFacts] = []
        self._read_at: float | None = None

    def documents(self) -> list[DocFacts]:
        """Every document that carries metadata (stale by at most ``refresh_s``)."""
        with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self.refresh_s:
                self._docs = self._read()
                self._read_at = now
            return self._docs

    def readable(self, principal: Principal) -> list[DocFacts]:
        """The documents ``principal`` may read: steering never looks past them."""
        return [d for d in self.documents() if d.readable_by(principal)]

    def _read(self) -> list[DocFacts]:
        flt = Filter(must=[MatchValue(f"{DOCMETA_KEY}.{HEAD_KEY}", 1)])
        by_id: dict[str, DocFacts] = {}
        for hit in self.index.scroll(flt):
            facts = DocFacts.from_payload(hit.payload)
            if facts is not None:
                by_id[facts.doc_id] = facts
        return list(by_id.values())
