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

A computed figure is ``computed`` when every operand is a figure of the context for
what the sentence says, else ``unsupported_operand`` (an operand in no passage, in other
units, or in another row); an expression that is not plain arithmetic is ``uncomputable``.
Passages the sentence cites are preferred as the source.

The answer's first figure is its key figure: one that measures something other than the
question asks for (revenue for a gross-margin question) is ``wrong_label`` too. When the
key figure is not verified, a note saying so ends the answer. A question asking for a
derived figure that the answer states without a calculation gets one computed from the
cells the answer states (:func:`derivation`), after the answer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from retrieval.arithmetic import (
    Calculation,
    CalculationError,
    evaluate,
    find_calculations,
    replacement,
    shown,
)
from retrieval.figure_parsing import SourceFigure, Stated, context_figures, parse_figures
from retrieval.figure_words import (
    Periods,
    change_conflict,
    label_conflict,
    measure_conflict,
    period_conflict,
    periods,
    stems,
)
from retrieval.llm.prompts import calculation_kind, cited_numbers

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
#: Operand statuses that make a computed figure ``unsupported_operand`` (another period is
#: what a growth rate is made of).
_BAD_OPERAND: frozenset[str] = UNSUPPORTED | {"wrong_label"}
_RANK = {"verified": 0, "wrong_period": 1, "wrong_label": 2}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?!\[)|\n+")


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
    if c.row is not None and label_conflict(c.row, around.stems):
        return "wrong_label"
    if measure_conflict(c.section, around.stems) or change_conflict(c.column, around.stems):
        return "wrong_label"
    if (
        c.column is not None
        and around.periods
        and period_conflict(around.periods, periods(c.column), c.table_years)
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
    near = periods(text[before:start] + " " + text[end:after])
    said = near or periods(sentence) or question
    return sentence, _Around(set(), said, frozenset(cited_numbers(sentence)))


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
    trusted = all(o.status not in _BAD_OPERAND for o in operands)
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
    "unsupported_operand": "Note: {text} is computed from {bad}, which the passages do not "
    "give for what is stated.",
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
        bad=", ".join(dict.fromkeys(o.text for o in check.operands if o.status in _BAD_OPERAND)),
    )


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _latest_first(a: FigureCheck, b: FigureCheck) -> tuple[FigureCheck, FigureCheck] | None:
    """``(later, earlier)`` by the years of their columns; None when that does not tell."""
    ya = max(periods(a.column or "").years, default=0)
    yb = max(periods(b.column or "").years, default=0)
    if ya == yb:
        return None
    return (a, b) if ya > yb else (b, a)


def derivation(kind: str | None, checks: Sequence[FigureCheck]) -> str | None:
    """The expression a derived-figure question needs, over table cells the answer states
    (verified): a share is a row over a "Total" row of the same column; a growth rate or
    difference, one row's later column against its earlier one; a sum, rows of one column;
    a ratio, the first two. None when the answer already computes, or the cells do not fit.
    """
    if kind is None or any(c.working is not None for c in checks):
        return None
    cells = list(
        {
            (c.row, c.column): c for c in checks if c.status == "verified" and c.row and c.column
        }.values()
    )

    def number(c: FigureCheck) -> str:
        match = _NUMBER.search(c.text)
        return match.group(0) if match else c.text

    pairs = [(a, b) for i, a in enumerate(cells) for b in cells[i + 1 :]]
    if kind == "share":
        for a, b in pairs:
            total = [c for c in (a, b) if "total" in (c.row or "").lower()]
            if a.column == b.column and len(total) == 1:
                part = b if total[0] is a else a
                return f"{number(part)} / {number(total[0])} * 100"
    elif kind in ("growth", "difference"):
        for a, b in pairs:
            order = _latest_first(a, b) if a.row == b.row else None
            if order:
                new, old = (number(c) for c in order)
                return f"({new} - {old}) / {old} * 100" if kind == "growth" else f"{new} - {old}"
    elif kind == "sum":
        column = [c for c in cells if cells and c.column == cells[0].column]
        if len(column) >= 2:
            return " + ".join(number(c) for c in column)
    elif kind == "ratio" and len(cells) >= 2:
        return f"{number(cells[0])} / {number(cells[1])}"
    return None


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
    text, computed = _write_calculations(answer)
    question_periods = periods(question)
    question_stems = stems(question)
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
        around = _Around(stems(sentence) | question_stems, around.periods, around.cited)
        checks.append(check_figure(s, figures, around))
    for a, b, calc, written in computed:
        neighbours = [sp for sp in spans if sp != (a, b)]
        sentence, around = _around(text, a, b, neighbours, question_periods)
        around = _Around(stems(sentence) | question_stems, around.periods, around.cited)
        if calc is None:
            checks.append(FigureCheck(written, a, b, 0.0, "uncomputable"))
        else:
            checks.append(_computed(calc, a, written, figures, around))
    checks.sort(key=lambda f: f.start)
    key = checks[0] if checks else None
    if key and key.status == "verified" and measure_conflict(key.row, question_stems):
        # The key figure is right where it was found, but measures something the question
        # did not ask for (revenue given for a question on gross margin).
        checks[0] = dataclasses.replace(key, status="wrong_label")
    around = _Around(question_stems, question_periods, frozenset())
    text = _with_derivation(text, checks, calculation_kind(question), figures, around)
    note = note_for(checks[0]) if checks else None
    if note:
        text = f"{text.rstrip()}\n\n{note}"
    return CheckedAnswer(text, checks, note)


def _write_calculations(answer: str) -> tuple[str, list[tuple[int, int, Calculation | None, str]]]:
    """The answer with each ``<<expression>>`` replaced by its result and working, and
    where each replacement lies in the new text: (start, end, the calculation or None
    when it could not be computed, the text written)."""
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
    return "".join(parts), computed


def _with_derivation(
    text: str,
    checks: list[FigureCheck],
    kind: str | None,
    figures: Sequence[SourceFigure],
    around: _Around,
) -> str:
    """A derived figure the model stated (or guessed) without a calculation: deepwell
    computes it from the cells the answer states, says so after the answer and adds its
    check to ``checks``. ``text`` unchanged when there is none."""
    expression = derivation(kind, checks)
    if expression is None:
        return text
    try:
        calc = evaluate(expression)
    except CalculationError:
        return text
    lead = f"{text.rstrip()}\n\nComputed from the figures above: "
    written = replacement(calc)
    checks.append(_computed(calc, len(lead), written, figures, around))
    return f"{lead}{written}."
