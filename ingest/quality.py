"""Parse quality: signals that an extraction went wrong, measured on the parsed elements.

A parser can return text that looks fine to code and is useless to a reader: words glued
together (``HepatitisCvirus(HCV)infectionisamajorcause...``, pdfminer on some PDFs),
glyphs a font does not map to Unicode (replacement and private-use characters, pdfminer's
``(cid:42)``), pages that produced nothing. :func:`assess` counts those signals and gives
a verdict; :func:`ingest.parsing.parse` uses it to re-read a PDF with the other parser
and to warn the user when no reading looks right. Pure functions, no I/O.

The "characters outside the expected script" signal is deliberately simple: it counts
characters that are never real text in any script (U+FFFD, private-use, lone
surrogate and control characters, and pdfminer's ``(cid:N)`` markers), not letters of
scripts a document might legitimately use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

#: A word this many letters long is almost never one word in running text (English's
#: long dictionary words stop around 20-21 letters); glued words are usually far longer.
LONG_WORD_LETTERS = 22
#: Share of words that may be that long before a document is suspect. Normal prose is
#: near 0.01%; the glued clinical-trial protocols measured 17-48%.
MAX_LONG_WORD_SHARE = 0.05
#: Share of non-space characters that may be broken glyphs (see the module docstring).
#: A stray replacement character is harmless; one percent means a font lost its mapping.
MAX_ODD_CHAR_SHARE = 0.01
#: Share of pages that may come out empty before a document is suspect (a blank page
#: or two is normal; most pages empty means the text layer was not read).
MAX_EMPTY_PAGE_SHARE = 0.5
#: Fewer words than this are too few to judge glued words on (a title page, a slide).
MIN_WORDS = 50

_CID = re.compile(r"\(cid:\d+\)")
#: U+FFFD, C0/C1 controls other than whitespace, private use (BMP and planes 15-16),
#: lone surrogates: characters no script writes.
_ODD_CHARS = re.compile(
    r"[\ufffd\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ue000-\uf8ff\ud800-\udfff\U000f0000-\U0010ffff]"
)
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>«»“”‘’*"


class Element(Protocol):
    """What :func:`assess` reads of a parsed element (``ingest.parsing.ParsedElement``)."""

    @property
    def type(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def page_number(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ParseQuality:
    """Signals of a bad extraction for one document, and the verdict drawn from them."""

    words: int
    long_words: int  # words of LONG_WORD_LETTERS+ letters (not URLs, e-mails, compounds)
    long_word_share: float
    chars: int  # non-space characters
    odd_chars: int
    odd_char_share: float
    pages: int | None
    empty_pages: list[int] = field(default_factory=list)
    pages_ocr: int = 0
    ocr_pages: list[int] = field(default_factory=list)  # which pages (1-based) were OCRed
    tables: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        """True when at least one signal is past its threshold."""
        return bool(self.reasons)

    @property
    def verdict(self) -> str:
        """``ok``, or ``suspect: `` and the reasons, for people."""
        return "suspect: " + "; ".join(self.reasons) if self.reasons else "ok"

    def badness(self) -> tuple[int, float]:
        """Sort key, lower is better: suspect signals, then the glued and odd shares."""
        return (len(self.reasons), self.long_word_share + self.odd_char_share)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the registry's ``quality`` column), verdict included."""
        return {**asdict(self), "verdict": "suspect" if self.suspect else "ok"}


def assess(
    elements: Iterable[Element],
    *,
    page_count: int | None = None,
    ocr_pages: Sequence[int] = (),
) -> ParseQuality:
    """Measure the signals of a bad extraction over a document's parsed elements.

    Args:
        elements: the document's elements in reading order.
        page_count: pages of the file (PDF), None where the format has no pages; a page
            no element comes from is empty (no text layer, or the parser lost it).
        ocr_pages: the pages (1-based) whose text came from OCR.

    Returns:
        The counts, shares and reasons; ``reasons`` is empty when nothing is suspect.
    """
    words = long_words = chars = odd = tables = 0
    seen_pages: set[int] = set()
    for el in elements:
        tables += el.type == "Table"
        if el.text.strip() and el.page_number is not None:
            seen_pages.add(el.page_number)
        w, lw = _word_counts(el.text)
        words, long_words = words + w, long_words + lw
        c, o = _char_counts(el.text)
        chars, odd = chars + c, odd + o
    empty: list[int] = []
    if page_count:
        empty = [p for p in range(1, page_count + 1) if p not in seen_pages]
    quality = ParseQuality(
        words=words,
        long_words=long_words,
        long_word_share=round(long_words / words, 4) if words else 0.0,
        chars=chars,
        odd_chars=odd,
        odd_char_share=round(odd / chars, 4) if chars else 0.0,
        pages=page_count,
        empty_pages=empty,
        pages_ocr=len(ocr_pages),
        ocr_pages=sorted(ocr_pages),
        tables=tables,
    )
    return _with_reasons(quality)


def _with_reasons(q: ParseQuality) -> ParseQuality:
    reasons = []
    if q.words >= MIN_WORDS and q.long_word_share > MAX_LONG_WORD_SHARE:
        reasons.append(
            f"{q.long_word_share:.0%} of words are {LONG_WORD_LETTERS}+ letters long (glued?)"
        )
    if q.odd_char_share > MAX_ODD_CHAR_SHARE:
        reasons.append(
            f"{q.odd_char_share:.1%} of characters are unmapped glyphs "
            "(replacement, private-use, control or cid codes)"
        )
    if q.pages and q.pages > 1 and len(q.empty_pages) / q.pages > MAX_EMPTY_PAGE_SHARE:
        reasons.append(f"{len(q.empty_pages)} of {q.pages} pages produced no text")
    return replace(q, reasons=reasons)


def _word_counts(text: str) -> tuple[int, int]:
    """Words (tokens with a letter) and how many are over-long."""
    words = long_words = 0
    for token in text.split():
        if not any(ch.isalpha() for ch in token):
            continue  # numbers, amounts, punctuation
        words += 1
        if is_long_word(token):
            long_words += 1
    return words, long_words


def is_long_word(token: str) -> bool:
    """A whitespace-separated token that reads as glued words: LONG_WORD_LETTERS+ letters,
    not a URL, an e-mail address, a path or a hyphenated compound."""
    token = token.strip(_EDGE_PUNCTUATION)
    if "://" in token or token.lower().startswith("www.") or "@" in token:
        return False
    if any(sep in token for sep in "-‐–—/\\_"):
        return False
    return sum(ch.isalpha() for ch in token) >= LONG_WORD_LETTERS


def _char_counts(text: str) -> tuple[int, int]:
    """Non-space characters and how many are unmapped glyphs."""
    chars = len(text) - sum(1 for ch in text if ch.isspace())
    return chars, len(_ODD_CHARS.findall(text)) + sum(len(m) for m in _CID.findall(text))
