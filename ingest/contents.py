"""Tables of contents among parsed elements: navigation, not content.

A table of contents (TOC) repeats the document's headings with page numbers; indexed,
it is a chunk that matches every question about the document's structure and answers
none, and glued to the cover page it spoils that chunk too. Cleaning drops what this
module recognises (:func:`contents_elements`):

- a table marked as contents by the PDF layout parser (``<table class="contents">``, see
  :mod:`ingest.pdf_contents`, which reads the page's geometry and links);
- a run of three or more consecutive elements of one page (part headings may sit
  between them), each an entry (a title, then its page number at the end, dot leaders
  or not), whose numbers never decrease and stay within the document's page range,
  under a "Contents" / "Index" heading or with dot leaders on most entries;
- one element holding three or more dot-leader entries and little else.

The heading ("Table of Contents") and "Page" column header just above such a run go with
it. A schedule with one value column is not a TOC: its values are amounts (separators,
years beyond the page range) or go down, and it has neither heading nor leaders.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from ingest.parsing import ParsedElement
from ingest.pdf_contents import is_heading, is_page_header, page_value

_MARKED = re.compile(r"^<table\b[^>]*\bclass=\"[^\"]*\bcontents\b", re.I)
_LEADERS = r"(?:[.…·_]\s?){3,}"
#: An entry as text: a title with letters, dot leaders or a blank, a page number.
_ENTRY = re.compile(
    rf"^(?P<label>.*?[^\W\d_].*?)\s*(?P<leaders>{_LEADERS})?\s*(?P<page>\d{{1,4}}|[ivxlc]{{1,7}})$",
    re.S,
)
#: Entries inside one element: "Introduction ....... 3 Methods ....... 5".
_LEADER_ENTRY = re.compile(
    rf"[^\W\d_][^.…·_]{{1,200}}?\s*{_LEADERS}\s*(?:\d{{1,4}}|[ivxlc]{{1,7}})\b"
)


def is_marked(element: ParsedElement) -> bool:
    """True for a table the layout parser marked as a table of contents."""
    return element.type == "Table" and bool(_MARKED.match(element.text_as_html or ""))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _entry(text: str) -> tuple[int, bool] | None:
    """(page number, has leaders) when ``text`` is one TOC entry."""
    text = _squash(text)
    m = _ENTRY.match(text)
    if m is None or len(text) > 250:
        return None
    label, (_, page) = m["label"].rstrip(), page_value(m["page"])
    if page is None or sum(ch.isalpha() for ch in label) < 3:
        return None
    if m["leaders"] is None and label.endswith((".", ",", ";", ":", "$", "-", "–")):
        return None  # a sentence, an amount ("1,234", "12.5") or a range ending in a number
    return page, m["leaders"] is not None


def _heading(el: ParsedElement) -> bool:
    text = _squash(el.text)
    return is_heading(text) or is_page_header(text)


def _short(el: ParsedElement) -> bool:
    """A part heading between entries: short, not a sentence."""
    text = _squash(el.text)
    return len(text) <= 80 and not text.endswith((".", ";", ":")) and el.type != "Table"


def _ascending(pages: Sequence[int], max_page: int) -> bool:
    if any(p < 1 or p > max_page for p in pages):
        return False
    drops = sum(1 for a, b in itertools.pairwise(pages) if b < a)
    return 6 * drops <= len(pages)


def contents_elements(elements: Sequence[ParsedElement], page_count: int | None) -> set[int]:
    """Indexes of the elements that make up tables of contents (see the module's docstring).

    Args:
        elements: a document's elements in reading order.
        page_count: its number of pages (None when it has none: the range is wider).
    """
    max_page = 2 * page_count + 20 if page_count else 2000
    out = {i for i, el in enumerate(elements) if is_marked(el)}
    entries = [_entry(el.text) if el.type != "Table" else None for el in elements]
    i = 0
    while i < len(elements):
        if entries[i] is None:
            i += 1
            continue
        run, last, j = [i], i, i + 1
        while j < len(elements) and elements[j].page_number == elements[i].page_number:
            if entries[j] is not None:
                run.append(j)
                last = j
            elif j - last > 2 or not _short(elements[j]):
                break
            j += 1
        found = [e for k in run if (e := entries[k]) is not None]
        head = [k for k in range(i - 1, max(-1, i - 3), -1) if _heading(elements[k])]
        same_page = [k for k in head if elements[k].page_number == elements[i].page_number]
        leaders = sum(lead for _, lead in found)
        if (
            len(found) >= 3
            and _ascending([p for p, _ in found], max_page)
            and (same_page or 2 * leaders >= len(found))
        ):
            out.update(range(min([i, *same_page]), last + 1))
        i = last + 1
    for k, el in enumerate(elements):
        text = _squash(el.text)
        hits = _LEADER_ENTRY.findall(text) if el.type != "Table" else []
        if len(hits) >= 3 and sum(len(h) for h in hits) >= 0.6 * len(text):
            out.add(k)
    return out
