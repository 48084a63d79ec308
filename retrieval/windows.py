"""Passage windows: the part of each retrieved passage that bears on the question.

A retrieved chunk is a few hundred tokens; the figure a question asks for is usually one
table row or one sentence of it. Every token put before the model is read before the
first word of the answer (about 80 tokens/s on two cores with the default 1.5B model),
and a small reader is also more accurate with less beside the answer. So the answer path
gives the model windows, not whole chunks:

- a **table** keeps its heading, units and column headers (the periods), and only its body
  rows whose labels share the rarest question words, best ``rows`` of them, in table order,
  each under the row heading it sits below ("Americas:");
- **prose** keeps its best ``sentences`` sentences with the one after each best one when it
  carries the figure on ("… was $5.1 billion. This was up 12% …"), in text order, joined by
  `` … `` where sentences were left out.

What counts as the question's words: :func:`retrieval.llm.extractive.terms` singularised,
weighted by how rare each is among all candidate units (a company name every passage
shares weighs little; "research" weighs much). A passage none of whose units share a word
is kept whole: the window cannot tell what matters in it, and re-scoring has already
ranked it.

Pure functions over :class:`~retrieval.types.RetrievedChunk`; the chunk's id, document and
pages stay, so citations still open the passage the window came from.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from retrieval.llm.extractive import terms
from retrieval.tables import TableText, read_table, render_table
from retrieval.types import RetrievedChunk

_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(“\"$])|\n+")
_DIGIT = re.compile(r"\d")
_MIN_LEAD_WORDS = 12
_POSSESSIVE = re.compile(r"['’]s?$")
_PLURAL = re.compile(r"(?<=[^s])s$")


def stem(word: str) -> str:
    """``word`` in the singular, roughly: "liabilities" -> "liability", "sales" -> "sale",
    "Europe's" -> "europe"."""
    word = _POSSESSIVE.sub("", word)
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    return _PLURAL.sub("", word)


def stems(text: str) -> set[str]:
    """The singularised content words of ``text``."""
    return {stem(w) for w in terms(text)}


@dataclass(frozen=True, slots=True)
class _Units:
    """A chunk cut into what a window chooses from: table rows or sentences."""

    table: TableText | None
    units: list[str]


def _units(chunk: RetrievedChunk) -> _Units:
    if chunk.is_table and (table := read_table(chunk.text)) is not None:
        units, heading = [], ""
        for row in table.rows:  # a row reads with the row heading above it ("Europe:")
            if len(row) == 1:
                heading = row[0]
                units.append("")
            else:
                units.append(" ".join([heading, *row]))
        return _Units(table, units)
    parts = [" ".join(s.split()) for s in _SENTENCE.split(chunk.text.strip())]
    return _Units(None, [p for p in parts if p])


def _weights(question: str, cut: Sequence[_Units]) -> dict[str, float]:
    """Each question word's weight: the log inverse of the share of units holding it."""
    wanted = stems(question)
    bags = [stems(u) & wanted for c in cut for u in c.units if u]
    df = Counter(w for bag in bags for w in bag)
    return {w: math.log(1 + len(bags) / n) for w, n in df.items()}


def _score(unit: str, weights: dict[str, float]) -> float:
    return sum(weights.get(w, 0.0) for w in stems(unit)) if unit else 0.0


def _lead(table: TableText) -> list[str]:
    """The lead lines worth their tokens: short ones (headings, units); a long sentence
    only when the column headers name no period and it may ("for the three months ended
    …")."""
    dated = any(_DIGIT.search(cell) for cell in table.header[1:])
    return [
        line
        for line in table.lead
        if len(line.split()) < _MIN_LEAD_WORDS or (not dated and _DIGIT.search(line))
    ]


def _table_window(
    table: TableText, scores: Sequence[float], rows: int, section: Sequence[str]
) -> str:
    best = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: -scores[i])[:rows]
    keep = set(best)
    body: list[list[str]] = []
    heading: list[str] | None = None
    for i, row in enumerate(table.rows):
        if len(row) == 1:
            heading = row
            continue
        if i in keep:
            if heading is not None:
                body.append(heading)
                heading = None
            body.append(row)
    said = {" ".join(s.split()).lower() for s in section[-1:]}  # the block's label says it
    lead = [line for line in _lead(table) if " ".join(line.split()).lower() not in said]
    window = replace(table, lead=lead, rows=body)
    return render_table(window)


def _text_window(units: Sequence[str], scores: Sequence[float], sentences: int) -> str:
    best = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: -scores[i])
    keep: set[int] = set()
    for i in best[:sentences]:
        keep.add(i)
        # The sentence after carries a figure on ("This was up 12% …").
        if i + 1 < len(units) and _DIGIT.search(units[i + 1]) and not _DIGIT.search(units[i]):
            keep.add(i + 1)
    parts: list[str] = ["…"] if min(keep) > 0 else []
    last = min(keep) - 1
    for i in sorted(keep):
        if parts and i != last + 1:
            parts.append("…")
        parts.append(units[i])
        last = i
    if last != len(units) - 1:
        parts.append("…")
    return " ".join(parts)


def focus(
    question: str, chunks: Sequence[RetrievedChunk], *, rows: int = 3, sentences: int = 2
) -> list[RetrievedChunk]:
    """Each chunk cut to its window for ``question`` (same order, same ids).

    Args:
        question: what the model will be asked (a follow-up's standalone rewrite).
        chunks: the candidates, best first; their words weigh the question's.
        rows: the most table body rows a window keeps.
        sentences: the most best sentences a prose window keeps (each may bring the
            sentence after it).
    """
    cut = [_units(c) for c in chunks]
    weights = _weights(question, cut)
    out: list[RetrievedChunk] = []
    for chunk, parts in zip(chunks, cut, strict=True):
        scores = [_score(u, weights) for u in parts.units]
        if not any(s > 0 for s in scores):
            out.append(chunk)
            continue
        if parts.table is not None:
            text = _table_window(parts.table, scores, rows, chunk.section)
        else:
            text = _text_window(parts.units, scores, sentences)
        useful = text.strip(" …\n") and len(text) < len(chunk.text)
        out.append(chunk.with_text(text) if useful else chunk)
    return out
