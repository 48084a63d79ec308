"""Every figure of an answer checked against the passages the model was given.

:func:`check_answer` runs after generation. It computes the answer's ``<<expression>>``
calculations (:mod:`retrieval.arithmetic`), then matches each figure the answer states
to the context:

- the value, to the precision the answer states it: "1.6 billion" matches ``1,577`` in
  a table "(in millions)", "$21,213 million" only ``21,213``; a bare "21,213" takes the
  units of the cell it matches;
- where the figure is a table cell, the row label and the column's period against the
  words around the figure in the answer (and the question): a value found only in
  another row is ``wrong_label``, only in another period's column ``wrong_period``;
- the same digits in other units ("$1,577 billion", "35.8 million" for "35.8%") are a
  ``unit_mismatch``; a figure found nowhere is ``not_found``.

A computed figure is ``computed`` when every operand is a figure of the context, else
``unsupported_operand``; an expression that is not plain arithmetic is ``uncomputable``.
Passages the sentence cites are preferred as the source. When the answer's first
figure (its key figure) is not verified, a note saying so ends the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from retrieval.arithmetic import Calculation, find_calculations, shown
from retrieval.context import parse_blocks
from retrieval.llm.prompts import cited_numbers
from retrieval.tables import TableText, read_table

Status = Literal[
    "verified",
    "wrong_period",
    "wrong_label",
    "unit_mismatch",
    "not_found",
    "computed",
    "unsupported_operand",
    "uncomputable",
]
#: Statuses a reader need not doubt.
TRUSTED: frozenset[str] = frozenset({"verified", "computed"})
#: Statuses of figures the context does not hold at all (``unsupported_numbers``).
UNSUPPORTED: frozenset[str] = frozenset({"not_found", "unit_mismatch"})
_RANK = {"verified": 0, "wrong_period": 1, "wrong_label": 2}

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
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_MONTH_BEFORE = re.compile(_MONTH + r"\s+$", re.IGNORECASE)
_REFERENCE_BEFORE = re.compile(
    r"\b(?:note|item|part|page|p\.|pp\.|section|rule|form|exhibit|level)\s+$", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?!\[)|\n+")
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
    """Leave out years, days of a date, references ("Note 10", "Q3", "10-Q") and bare
    one-digit numbers."""
    num = m.group("num")
    plain = num.replace(",", "")
    unit = bool(m.group("cur") or m.group("pct") or m.group("word") or m.group("abbr"))
    before, after = text[: m.start("num")], text[m.end("num") : m.end("num") + 2]
    attached = before[-1:].isalnum() or before[-1:] in ("/", "_") or re.match(r"-?[A-Za-z]", after)
    if attached and not (m.group("abbr") or m.group("pct") or m.group("word")):
        return False
    if after[:1] == "/" or re.search(r"\d/$", before):
        return False  # 7/1/2023
    if unit:
        return True
    if re.fullmatch(r"(?:19|20)\d\d", plain):
        return False
    if _MONTH_BEFORE.search(before[-12:]) or _REFERENCE_BEFORE.search(before[-10:]):
        return False
    return len(plain.replace(".", "").lstrip("0")) >= 2 or "." in plain


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
    years = frozenset(y for h in table.header for y in _periods(h).years)
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


# --- periods and labels ------------------------------------------------------------------

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


def _periods(text: str) -> Periods:
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


def _period_conflict(said: Periods, column: Periods, table_years: frozenset[int]) -> bool:
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


def _stems(text: str) -> set[str]:
    stems = {_stem(w) for w in _WORD.findall(text.lower())}
    for stem in list(stems):
        stems |= _SYNONYMS.get(stem, set())
    return stems


def _label_conflict(label: str, said: set[str]) -> bool:
    """Whether none of the row label's own words is among the words around the figure."""
    words = {_stem(w) for w in _WORD.findall(label.lower()) if w not in _GENERIC and len(w) > 1}
    return bool(words) and not (words & said)


#: What a row heading measures ("Gross margin percentage:" over "Products", "Services").
_MEASURES = frozenset(
    {"sale", "revenu", "income", "earnin", "profit", "margin", "expens", "cost", "cash", "tax"}
)


def _section_conflict(section: str | None, said: set[str]) -> bool:
    """Whether the row heading measures one thing and the words around the figure name
    only others (a margin percentage stated as a share of revenue). Headings that only
    group rows ("Americas:", "Current assets:") never conflict."""
    if not section:
        return False
    measured = _stems(section) & _MEASURES
    named = said & _MEASURES
    return bool(measured and named) and not (measured & named)


# --- checking ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FigureCheck:
    """One figure of the answer and what the context says of it.

    ``value`` is the amount (a bare "21,213" from a table in millions: 21213e6);
    ``source`` the passage number the figure was found in; ``row`` and ``column`` the
    table cell's labels; ``start``/``end`` its place in the answer (code points). A
    computed figure carries its ``working`` and its ``operands`` (placed in the working).
    """

    text: str
    start: int
    end: int
    value: float
    status: Status
    source: int | None = None
    row: str | None = None
    column: str | None = None
    working: str | None = None
    operands: list[FigureCheck] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "status": self.status,
            "source": self.source,
            "row": self.row,
            "column": self.column,
        }
        if self.working is not None:
            data["working"] = self.working
            data["operands"] = [o.to_dict() for o in self.operands]
        return data


def _value_match(s: Stated, c: SourceFigure) -> bool:
    """The same amount to the answer's precision (a stated figure without units takes
    the cell's; a cell without units matches the digits as written)."""
    if s.percent != c.percent:
        return False
    tolerance = 0.5 * 10.0**-s.decimals * (1 + 1e-9)
    if s.scale is None or c.scale is None or s.percent:
        return abs(s.number - c.number) <= tolerance
    return abs(s.number * s.scale - c.number * c.scale) <= tolerance * s.scale


def _digits_match(s: Stated, c: SourceFigure) -> bool:
    return abs(s.number - c.number) <= 0.5 * 10.0**-s.decimals * (1 + 1e-9)


@dataclass(frozen=True, slots=True)
class _Around:
    """What the answer says around one figure: its words, its periods, its citations."""

    stems: set[str]
    periods: Periods
    cited: frozenset[int]


def _status(c: SourceFigure, around: _Around) -> Status:
    if c.row is not None and _label_conflict(c.row, around.stems):
        return "wrong_label"
    if _section_conflict(c.section, around.stems):
        return "wrong_label"
    if (
        c.column is not None
        and around.periods
        and _period_conflict(around.periods, _periods(c.column), c.table_years)
    ):
        return "wrong_period"
    return "verified"


def check_figure(s: Stated, figures: Sequence[SourceFigure], around: _Around) -> FigureCheck:
    """Match one stated figure to the context's figures (cited passages first)."""
    sign = -1.0 if s.negative else 1.0
    matches = [(c, _status(c, around)) for c in figures if _value_match(s, c)]
    if matches:
        c, status = min(
            matches, key=lambda cs: (_RANK[cs[1]], cs[0].source not in around.cited, cs[0].source)
        )
        value = s.value if s.scale is not None else sign * c.value
        return FigureCheck(s.text, s.start, s.end, value, status, c.source, c.where, c.column)
    others = [c for c in figures if _digits_match(s, c)]
    if others:
        c = min(others, key=lambda c: (c.source not in around.cited, c.source))
        return FigureCheck(
            s.text, s.start, s.end, s.value, "unit_mismatch", c.source, c.where, c.column
        )
    return FigureCheck(s.text, s.start, s.end, s.value, "not_found")


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, last = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((last, m.start()))
        last = m.end()
    spans.append((last, len(text)))
    return spans


def _around(
    text: str, start: int, end: int, neighbours: Sequence[tuple[int, int]], question: Periods
) -> tuple[str, _Around]:
    """The sentence of ``text[start:end]`` and what it says around that figure: the
    periods between the figures either side (else the sentence's, else the question's)."""
    s0, s1 = next(((a, b) for a, b in _sentences(text) if a <= start < b + 1), (0, len(text)))
    before = max((e for _, e in neighbours if s0 <= e <= start), default=s0)
    after = min((b for b, _ in neighbours if end <= b <= s1), default=s1)
    sentence = text[s0:s1]
    near = _periods(text[before:start] + " " + text[end:after])
    periods = near or _periods(sentence) or question
    return sentence, _Around(set(), periods, frozenset(cited_numbers(sentence)))


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """An answer with its calculations done, each figure checked, and a note when its key
    figure is not verified (already appended to ``text``)."""

    text: str
    figures: list[FigureCheck]
    note: str | None = None

    @property
    def unsupported(self) -> list[str]:
        """The figures found nowhere in the context (what ``unsupported_numbers`` lists)."""
        out: list[str] = []
        for f in self.figures:
            for g in [f, *f.operands]:
                if g.status in UNSUPPORTED and g.text not in out:
                    out.append(g.text)
        return out


def _computed(
    calc: Calculation, start: int, written: str, figures: Sequence[SourceFigure], around: _Around
) -> FigureCheck:
    """The check of a computed figure: each operand (constants aside) checked as a figure."""
    operands = []
    scales = set()
    at = 0  # operands are placed in the working, where a reader sees them
    for o in calc.operands:
        if o.constant:
            continue
        stated = parse_figures(o.text)
        if not stated:
            continue
        checked = check_figure(stated[0], figures, around)
        if stated[0].number:
            scales.add(round(abs(checked.value) / stated[0].number, 6))
        place = max(calc.working.find(o.text, at), 0)
        at = place + len(o.text)
        operands.append(
            FigureCheck(
                o.text,
                place,
                at,
                checked.value,
                checked.status,
                checked.source,
                checked.row,
                checked.column,
            )
        )
    trusted = all(o.status not in UNSUPPORTED for o in operands)
    result = written.partition(" (computed: ")[0]
    # An amount is in its operands' units (a sum of cells of a table in millions).
    scale = scales.pop() if calc.kind == "amount" and len(scales) == 1 else 1.0
    return FigureCheck(
        text=result,
        start=start,
        end=start + len(result),
        value=calc.value * scale,
        status="computed" if trusted else "unsupported_operand",
        working=calc.working,
        operands=operands,
    )


_NOTES = {
    "not_found": "Note: {text} is not in the passages given; it may be wrong.",
    "unit_mismatch": "Note: {text} does not match the units of {where}; it may be wrong.",
    "wrong_period": "Note: {text} is in {where} for {column}, not the period stated.",
    "wrong_label": "Note: {text} is in {where} as “{row}”, not what was asked.",
    "unsupported_operand": "Note: {text} is computed from {bad}, which is not in the passages "
    "given.",
    "uncomputable": "Note: {text} could not be computed.",
}


def note_for(check: FigureCheck) -> str | None:
    """The sentence that warns about an answer's key figure; None when it is trusted."""
    template = _NOTES.get(check.status)
    if template is None:
        return None
    return template.format(
        text=check.text,
        where=f"passage [{check.source}]" if check.source else "the passages",
        column=check.column,
        row=check.row,
        bad=", ".join(dict.fromkeys(o.text for o in check.operands if o.status in UNSUPPORTED)),
    )


def check_answer(answer: str, context: str, *, question: str = "") -> CheckedAnswer:
    """Compute the answer's calculations and check every figure against ``context``.

    Args:
        answer: the generated answer (with ``[n]`` markers and ``<<expression>>``s).
        context: the packed context text the model read.
        question: the question asked; its periods and words count where the answer's
            sentence names none.

    Returns:
        The answer with results and working in place of its expressions (and a note
        at the end when its key figure is not verified), and a check per figure.
    """
    figures = context_figures(context)
    parts: list[str] = []
    computed: list[tuple[int, int, Calculation | None, str]] = []
    last = 0
    length = 0
    for found in find_calculations(answer):
        parts.append(answer[last : found.start])
        length += found.start - last
        written = shown(found)
        computed.append((length, length + len(written), found.calculation, written))
        parts.append(written)
        length += len(written)
        last = found.end
    parts.append(answer[last:])
    text = "".join(parts)

    question_periods = _periods(question)
    question_stems = _stems(question)
    stated = [
        s
        for s in parse_figures(text)
        if not any(s.start < b and s.end > a for a, b, _, _ in computed)
    ]
    spans = [(s.start, s.end) for s in stated] + [(a, b) for a, b, _, _ in computed]
    checks: list[FigureCheck] = []
    for s in stated:
        neighbours = [sp for sp in spans if sp != (s.start, s.end)]
        sentence, around = _around(text, s.start, s.end, neighbours, question_periods)
        around = _Around(_stems(sentence) | question_stems, around.periods, around.cited)
        checks.append(check_figure(s, figures, around))
    for a, b, calc, written in computed:
        neighbours = [sp for sp in spans if sp != (a, b)]
        sentence, around = _around(text, a, b, neighbours, question_periods)
        around = _Around(_stems(sentence) | question_stems, around.periods, around.cited)
        if calc is None:
            checks.append(FigureCheck(written, a, b, 0.0, "uncomputable"))
        else:
            checks.append(_computed(calc, a, written, figures, around))
    checks.sort(key=lambda f: f.start)
    note = note_for(checks[0]) if checks else None
    if note:
        text = f"{text.rstrip()}\n\n{note}"
    return CheckedAnswer(text, checks, note)
