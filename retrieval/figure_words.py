"""What the words around a figure say: the periods they name, and whether a table row's
label and heading fit them.

Used by :mod:`retrieval.figures` to tell a figure taken from the right row and period
from the same digits in another row (``wrong_label``) or another period's column
(``wrong_period``). Pure functions over text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
#: A month name just before a number: the number is a day ("July 1"), not a figure.
MONTH_BEFORE = re.compile(_MONTH + r"\s+$", re.IGNORECASE)

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DATE = re.compile(r"\b" + _MONTH + r"(?:\s+(\d{1,2})\b)?", re.IGNORECASE)
_YEAR = re.compile(r"(?<![\d,.$])(?:fy\s?)?((?:19|20)\d\d)\b(?![,.]\d)", re.IGNORECASE)
_DURATIONS = [
    (re.compile(r"\b(?:three|3)[-\s]months?\b|\bquarter|\bq[1-4]\b|\b13[-\s]weeks?\b", re.I), 3),
    (re.compile(r"\b(?:six|6)[-\s]months?\b|\b(?:first|second) half\b|\bhalf[-\s]year", re.I), 6),
    (re.compile(r"\b(?:nine|9)[-\s]months?\b|\b39[-\s]weeks?\b", re.I), 9),
    (
        re.compile(
            r"\b(?:twelve|12)[-\s]months?\b|\b(?:fiscal|full|calendar)[-\s]year\b|\bannual", re.I
        ),
        12,
    ),
]
_FISCAL = re.compile(r"\bfiscal\b|\bfy\s?\d|\bq[1-4]\b|\bquarter\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Periods:
    """The periods a text names: years, dates (month, day), months, durations in months."""

    years: frozenset[int] = frozenset()
    dates: frozenset[tuple[int, int]] = frozenset()
    months: frozenset[int] = frozenset()
    durations: frozenset[int] = frozenset()
    fiscal: bool = False

    def __bool__(self) -> bool:
        return bool(self.years or self.months or self.durations)


def periods(text: str) -> Periods:
    """The years, dates, months and durations ("three months", "Q3") ``text`` names."""
    dates, months = set(), set()
    for m in _DATE.finditer(text):
        month = _MONTHS.index(m.group(1)[:3].lower()) + 1
        if m.group(1).lower() == "may" and not m.group(2):
            continue  # the verb
        months.add(month)
        if m.group(2):
            dates.add((month, int(m.group(2))))
    return Periods(
        years=frozenset(int(y) for y in _YEAR.findall(text)),
        dates=frozenset(dates),
        months=frozenset(months),
        durations=frozenset(d for pattern, d in _DURATIONS if pattern.search(text)),
        fiscal=_FISCAL.search(text) is not None,
    )


def period_conflict(said: Periods, column: Periods, table_years: frozenset[int]) -> bool:
    """Whether the column's period contradicts the period the answer names.

    A fiscal year or quarter ("Q1 2023", "fiscal 2023") may end in the calendar year
    before: it names that year too, unless the table has a column of the named year.
    """
    years = set(said.years)
    if said.fiscal and not (years & table_years):
        years |= {y - 1 for y in said.years}
    if years and column.years and not (years & column.years):
        return True
    if said.dates and column.dates:
        if not (said.dates & column.dates):
            return True
    elif said.months and column.months and not (said.months & column.months):
        return True
    return bool(said.durations and column.durations and not (said.durations & column.durations))


_WORD = re.compile(r"[a-z][a-z&]*")
# Words of a row label that say nothing of what the row is.
# fmt: off
_GENERIC = frozenset({
    "total", "net", "other", "and", "of", "the", "in", "for", "a", "an", "to", "from", "on",
    "by", "as", "at", "with", "or", "less", "plus", "including", "excluding", "amount",
    "amounts", "period", "during", "before", "after", "reported", "per", "related",
})
# fmt: on
_SYNONYMS = {
    "revenu": {"sale"},
    "sale": {"revenu"},
    "earnin": {"income", "profit"},
    "income": {"earnin", "profit"},
    "profit": {"income", "earnin"},
    "r&d": {"resear", "develo"},
    "eps": {"earnin", "share"},
    "opex": {"operat", "expens"},
    "capex": {"capita", "proper", "equipm"},
    "cost": {"expens"},
    "expens": {"cost"},
    "taxe": {"tax"},
}


def _stem(word: str) -> str:
    return word.removesuffix("s")[:6]


def stems(text: str) -> set[str]:
    """The word stems of ``text`` with their synonyms ("revenue" also gives "sales")."""
    out = {_stem(w) for w in _WORD.findall(text.lower())}
    for stem in list(out):
        out |= _SYNONYMS.get(stem, set())
    return out


def label_conflict(label: str, said: set[str]) -> bool:
    """Whether none of the row label's own words is among the words around the figure."""
    words = {_stem(w) for w in _WORD.findall(label.lower()) if w not in _GENERIC and len(w) > 1}
    return bool(words) and not (words & said)


#: What a row heading measures ("Gross margin percentage:" over "Products", "Services").
_MEASURES = frozenset(
    {"sale", "revenu", "income", "earnin", "profit", "margin", "expens", "cost", "cash", "tax"}
)


def measure_conflict(row: str | None, said: set[str]) -> bool:
    """Whether a row (or its heading) measures one thing and ``said`` names only others: a
    margin percentage stated as a share of revenue, a revenue figure given for a question
    on gross margin. Rows that only group or name things ("Americas:", "Data Center")
    never conflict."""
    if not row:
        return False
    measured = stems(row) & _MEASURES
    named = said & _MEASURES
    return bool(measured and named) and not (measured & named)


#: A column of changes ("$ Change", "% Change", "Increase/(Decrease)").
_CHANGE_COLUMN = frozenset({"change", "increa", "decrea", "varian", "growth"})
#: Words that say a figure is a change.
_CHANGE_WORDS = _CHANGE_COLUMN | {
    "grow", "grew", "rose", "rise", "fell", "fall", "declin", "drop", "droppe", "up", "down",
    "higher", "lower", "compar", "gain", "loss",
}  # fmt: skip


def change_conflict(column: str | None, said: set[str]) -> bool:
    """Whether a figure from a column of changes is stated as something else (an 8%
    growth of Services given as its share of revenue)."""
    return (
        bool(column) and bool(stems(column or "") & _CHANGE_COLUMN) and not (said & _CHANGE_WORDS)
    )
