"""Arithmetic by code: the model writes an expression over figures, deepwell evaluates it.

A small model copies figures well and computes with them badly (a 1.5B reader got none
of nine ratio and growth questions right). So the answer prompt asks it to write a
derived figure as an expression between ``<<`` and ``>>``::

    Services net sales grew <<(21,213 - 19,604) / 19,604 * 100>>% [1].

:func:`find_calculations` finds them and :func:`evaluate` computes each with a safe
evaluator (numbers, ``+ - * /`` and parentheses; no names, calls or powers), keeping
the working: ``(21,213 − 19,604) / 19,604 × 100 = 8.2%``. Whether the operands are
figures of the context is checked by :mod:`retrieval.figures`.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from typing import Literal

#: ``<<calc: expression>>`` (the ``calc:`` is optional), on one line.
CALCULATION = re.compile(r"<<\s*(?:calc(?:ulate)?\s*:?\s*)?([^<>\n]{1,300}?)\s*>>", re.I)
# The model's own result after the expression ("= 8.5%", "≈ 8.5 percent"): dropped, since
# deepwell states the computed one.
GUESS = re.compile(
    r"\s*(?:=|≈|~)\s*[-−]?\$?\s?\d[\d,]*(?:\.\d+)?\s?(?:%|percent\b|(?:thousand|million|billion)\b)?"
)
# A unit the model wrote after the expression ("<<...>>%", "<<...>> million"): it belongs
# to the result, before the working.
_UNIT_AFTER = re.compile(r"\s?(?:%|percent\b|(?:thousand|million|billion)s?\b)", re.I)
# An operand as written: "$21,213 million", "19,604", "35.8%", "1.6 billion".
_OPERAND = re.compile(
    r"(?P<cur>\$\s?)?(?P<num>\d[\d,]*(?:\.\d+)?)"
    r"(?:\s?(?P<pct>%)|\s?(?P<scale>thousand|million|billion)s?\b)?",
    re.I,
)
_OPERATORS = {"−": "-", "–": "-", "×": "*", "x": "*", "÷": "/"}
_ALLOWED = re.compile(r"[\d.\s()+\-*/]*")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
#: Numbers that scale a result rather than state a figure (``* 100`` for a percentage).
CONSTANTS = frozenset({100.0, 1000.0})

Kind = Literal["percent", "ratio", "amount"]


class CalculationError(ValueError):
    """An expression that is not plain arithmetic over numbers, or cannot be computed."""


@dataclass(frozen=True, slots=True)
class Operand:
    """One number of an expression as written, where it is in the expression, its value."""

    text: str
    start: int
    end: int
    value: float
    scale: str  # "million", ... or "" when none is written
    currency: bool
    percent: bool

    @property
    def constant(self) -> bool:
        """A number that only scales the result (``100``) or a one-digit count."""
        return not (self.currency or self.scale or self.percent) and (
            self.value in CONSTANTS or (self.value.is_integer() and abs(self.value) < 10)
        )


@dataclass(frozen=True, slots=True)
class Calculation:
    """An evaluated expression: its operands, its result as text, and the working."""

    expression: str
    operands: list[Operand]
    value: float
    kind: Kind
    result: str
    working: str


def _operands(expression: str) -> list[Operand]:
    out = []
    for m in _OPERAND.finditer(expression):
        number = float(m.group("num").replace(",", "").rstrip("."))
        scale = (m.group("scale") or "").lower()
        out.append(
            Operand(
                text=m.group(0).strip(),
                start=m.start(),
                end=m.end(),
                value=number,
                scale=scale,
                currency=bool(m.group("cur")),
                percent=bool(m.group("pct")),
            )
        )
    return out


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _check(node: ast.AST) -> None:
    """Allow only numbers, + - * / and unary signs (raises CalculationError otherwise)."""
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.BinOp) and type(node.op) in (*_BINARY, ast.Div):
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        _check(node.operand)
    elif not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
        raise CalculationError(f"not plain arithmetic: {type(node).__name__}")


def _compute(node: ast.AST) -> float:
    """The value of a tree :func:`_check` let through."""
    if isinstance(node, ast.Expression):
        return _compute(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        value = _compute(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    assert isinstance(node, ast.BinOp)
    left, right = _compute(node.left), _compute(node.right)
    if not isinstance(node.op, ast.Div):
        return float(_BINARY[type(node.op)](left, right))
    if right == 0:
        raise CalculationError("division by zero")
    return left / right


def _kind(tree: ast.Expression) -> Kind:
    """A percentage (a division times 100), a ratio (a division), or an amount."""
    body = tree.body
    divides = any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) for n in ast.walk(tree))
    if isinstance(body, ast.BinOp) and isinstance(body.op, ast.Mult) and divides:
        sides = (body.left, body.right)
        if any(isinstance(s, ast.Constant) and s.value == 100 for s in sides):
            return "percent"
    if divides:
        return "ratio"
    return "amount"


def _group(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _decimals(text: str) -> int:
    match = re.search(r"\.(\d+)", text)
    return len(match.group(1)) if match else 0


def _format(value: float, kind: Kind, operands: list[Operand], decimals: int | None = None) -> str:
    """The result as text: a percentage to one decimal, a ratio to two, an amount to the
    operands' precision with their shared units ("$", "million", "%")."""
    figures = [o for o in operands if not o.constant]
    if kind == "percent":
        return f"{_group(value, 1)}%"
    if kind == "ratio":
        return _group(value, 2)
    if decimals is None:
        decimals = max((_decimals(o.text) for o in figures), default=0)
    scales = {o.scale for o in figures}
    text = _group(value, min(decimals, 2))
    if all(o.percent for o in figures) and figures:
        text += "%"
    elif len(scales) == 1 and (scale := next(iter(scales))):
        text += f" {scale}"
    if figures and all(o.currency for o in figures):
        text = ("-$" + text[1:]) if text.startswith("-") else "$" + text
    return text


_SYMBOL = re.compile(r"\s*([()+\-*/×÷−–x])\s*")
_SHOWN = {"-": " − ", "−": " − ", "–": " − ", "+": " + ", "*": " × ", "×": " × ", "x": " × "}


def _working(expression: str, operands: list[Operand]) -> str:
    """The expression as a reader writes it: ``(21,213 − 19,604) / 19,604 × 100``."""
    out: list[str] = []
    last = 0
    previous = ""  # the last token: "" (start), "(", "op", ")" or "n"
    for o in [*operands, None]:
        stop = o.start if o is not None else len(expression)
        for m in _SYMBOL.finditer(expression, last, stop):
            symbol = m.group(1)
            if symbol in "()":
                out.append(symbol)
                previous = symbol
            elif previous in ("", "(", "op"):  # a sign, not an operation
                out.append("-" if symbol in "-−–" else "")
            else:
                out.append(_SHOWN.get(symbol, f" {symbol} ").replace("÷", "/"))
                previous = "op"
        if o is not None:
            out.append(o.text)
            previous = "n"
            last = o.end
    return "".join(out)


def evaluate(expression: str) -> Calculation:
    """Evaluate an expression over figures as written (``$21,213``, ``1.6 billion``, ``35.8%``).

    Operands keep the units they are written in when they share them (a difference of
    two "million" amounts is in millions); mixed scales are computed in units.

    Raises:
        CalculationError: anything but numbers, ``+ - * /`` and parentheses (names,
            calls, powers), an empty expression, or a division by zero.
    """
    operands = _operands(expression)
    if not operands:
        raise CalculationError("no numbers to compute with")
    mixed = len({o.scale for o in operands if not o.constant}) > 1
    pieces: list[str] = []
    last = 0
    for o in operands:
        value = o.value * (_SCALES.get(o.scale, 1.0) if mixed else 1.0)
        pieces.append(expression[last : o.start])
        pieces.append(f"{value:.6f}")
        last = o.end
    pieces.append(expression[last:])
    source = "".join(pieces)
    for symbol, op in _OPERATORS.items():
        source = source.replace(symbol, op)
    if not _ALLOWED.fullmatch(source):
        raise CalculationError(f"not plain arithmetic: {expression!r}")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise CalculationError(f"not an expression: {expression!r}") from exc
    _check(tree)
    value = _compute(tree)
    if not math.isfinite(value):
        raise CalculationError("the result is not a finite number")
    kind = _kind(tree)
    if mixed and kind == "amount":  # computed in units: say it in the largest scale it reaches
        scale = next((w for w, f in reversed(_SCALES.items()) if abs(value) >= f), "")
        value /= _SCALES.get(scale, 1.0)
        operands_as = [Operand("", 0, 0, 0.0, scale, o.currency, False) for o in operands]
        result = _format(value, kind, operands_as, decimals=2 if scale else 0)
    else:
        result = _format(value, kind, operands)
    return Calculation(
        expression=expression.strip(),
        operands=operands,
        value=value,
        kind=kind,
        result=result,
        working=f"{_working(expression, operands)} = {result}",
    )


@dataclass(frozen=True, slots=True)
class Found:
    """A calculation found in an answer: where it was, and what it gives (None: it could not
    be computed, ``error`` says why)."""

    start: int
    end: int
    expression: str
    calculation: Calculation | None
    error: str = ""
    unit: str = ""  # a unit written right after the expression (" million")


def find_calculations(text: str) -> list[Found]:
    """Every ``<<expression>>`` of ``text`` with its evaluation; a result the model wrote
    right after it ("= 8.5%") is taken into the span, to be replaced with the computed one.
    """
    out = []
    for m in CALCULATION.finditer(text):
        end = m.end()
        try:
            calculation: Calculation | None = evaluate(m.group(1))
            error = ""
        except CalculationError as exc:
            calculation, error = None, str(exc)
        unit = ""
        if after := _UNIT_AFTER.match(text, end):
            end = after.end()
            unit = after.group(0)
        if guess := GUESS.match(text, end):
            end = guess.end()
        out.append(Found(m.start(), end, m.group(1), calculation, error, unit))
    return out


def shown(found: Found) -> str:
    """What a found calculation reads as in the answer: its result and working, or the
    expression as written when it could not be computed."""
    if found.calculation is None:
        return found.expression.strip() + found.unit
    return replacement(found.calculation, found.unit)


class StreamedCalculations:
    """Rewrites calculations while an answer streams: text outside ``<<…>>`` passes
    through; an expression is held back until it is complete (and what may follow it,
    a unit or the model's own result, has arrived), then let out computed, as
    :func:`shown` writes it. :meth:`flush` lets out what is held at the end.
    """

    #: Characters awaited after ``>>`` before an expression is let out (a unit, "= 8.5%").
    LOOKAHEAD = 24
    #: An opened ``<<`` without ``>>`` this long is not a calculation.
    LONGEST = 320

    def __init__(self) -> None:
        self._held = ""

    def feed(self, delta: str, *, final: bool = False) -> str:
        """The text that can be shown now, given the next piece of the answer."""
        text = self._held + delta
        out: list[str] = []
        while text:
            start = text.find("<<")
            if start < 0:
                keep = 1 if text.endswith("<") and not final else 0
                out.append(text[: len(text) - keep])
                text = text[len(text) - keep :]
                break
            out.append(text[:start])
            text = text[start:]
            close = text.find(">>")
            if close < 0 or CALCULATION.match(text) is None:
                if final or close >= 0 or len(text) > self.LONGEST or "\n" in text:
                    out.append(text[:2])  # not a calculation: let the "<<" out
                    text = text[2:]
                    continue
                break
            if not final and len(text) - close - 2 < self.LOOKAHEAD:
                break
            found = find_calculations(text)[0]
            out.append(shown(found))
            text = text[found.end :]
        self._held = text
        return "".join(out)

    def flush(self) -> str:
        """Everything still held, rewritten."""
        return self.feed("", final=True)


def replacement(calculation: Calculation, unit: str = "") -> str:
    """How a computed figure reads in the answer: the result (with the ``unit`` the model
    wrote after the expression, unless the result states its own), then the working."""
    shown = calculation.working.rpartition(" = ")[0]
    result = calculation.result
    has_unit = result.endswith("%") or re.search(r"[a-z]$", result) is not None
    if unit and not has_unit and calculation.kind == "amount":
        result += unit
    return f"{result} (computed: {shown})"
