"""Cleaning: page furniture out before chunking; empty and duplicate chunks out after.

Pure functions over parsed elements and chunk drafts. Nothing is dropped silently:
every removal is counted by reason (and by document) in a :class:`CleaningReport`.

- ``strip_page_furniture`` removes running headers and footers, page numbers,
  repeated "Table of Contents" links and tables of contents themselves
  (:mod:`ingest.contents`), which would otherwise be glued into chunks.
- ``clean_chunks`` drops chunks without information, exact duplicates (SHA-256 of the
  normalized text, across documents through ``seen_hashes``) and flags or drops near
  duplicates (MinHash over word 3-shingles, with LSH buckets: a ``SignatureIndex``, in
  memory in :mod:`ingest.minhash`, in the registry database during ingestion:
  :mod:`ingest.signatures`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Literal

from core import get_logger
from ingest.chunking import ChunkDraft
from ingest.contents import contents_elements
from ingest.minhash import NearDuplicateIndex, SignatureIndex, minhash, normalize_text
from ingest.parsing import ParsedDocument, ParsedElement

log = get_logger(__name__)

# Reasons, as counted in CleaningReport. The first five count elements, the rest chunks.
HEADER_FOOTER = "header_footer"  # Header/Footer elements of formats that mark them (DOCX)
PAGE_NUMBER = "page_number"
RUNNING_LINE = "running_line"  # a line repeated on most pages, or at a page edge
CONTENTS_LINK = "contents_link"  # "Table of Contents" repeated on pages
CONTENTS_PAGE = "contents_page"  # a table of contents: its entries, heading and "Page"
UNINFORMATIVE = "uninformative"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"

#: Formats whose Header/Footer elements come from the document's structure. In PDFs
#: unstructured labels by position only (top or bottom 7% of the page), so those stay.
_STRUCTURAL_HEADER_TYPES = frozenset({"docx", "pptx", "xlsx", "html", "md", "eml", "msg"})
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s*(?:of|/)\s*\d+|[-–—]\s*\d+\s*[-–—])$", re.I
)
_CONTENTS = re.compile(r"^(?:(?:back|return) to )?(?:table of )?contents$", re.I)
_BOILERPLATE = re.compile(
    r"^(?:\(?continued\)?|this page (?:is )?intentionally left blank|intentionally left blank|"
    r"(?:table of )?contents|confidential|draft|n/?a|none|not applicable|yes|no|page)$",
    re.I,
)


@dataclass(frozen=True, slots=True)
class CleaningOptions:
    """Thresholds of the cleaning steps (deepwell's defaults)."""

    furniture_min_pages: int = 3
    furniture_page_fraction: float = 0.5  # repeated on at least this share of pages
    edge_margin: float = 0.08  # top/bottom share of a page where running lines sit
    min_letters: int = 3  # fewer letters than this: no information
    near_duplicates: Literal["off", "flag", "drop"] = "flag"
    near_duplicate_threshold: float = 0.9  # estimated Jaccard similarity of 3-shingles
    num_perm: int = 128
    lsh_rows: int = 8  # rows per LSH band; 128/8 = 16 bands, candidates above ~0.7


@dataclass
class CleaningReport:
    """What cleaning removed or flagged, by reason, overall and per document."""

    removed: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    per_document: dict[str, Counter[str]] = field(default_factory=dict)
    chunks_in: int = 0
    chunks_out: int = 0

    def count(self, doc: str, reason: str, n: int = 1, *, flag: bool = False) -> None:
        """Record ``n`` removals (or flags) of ``reason`` in document ``doc``."""
        if n <= 0:
            return
        (self.flagged if flag else self.removed)[reason] += n
        key = f"flagged:{reason}" if flag else reason
        self.per_document.setdefault(doc, Counter())[key] += n

    def count_all(self, doc: str, counts: Counter[str]) -> None:
        """Record several reasons at once (e.g. what ``strip_page_furniture`` returned)."""
        for reason, n in counts.items():
            self.count(doc, reason, n)

    def merge(self, other: CleaningReport) -> None:
        """Add another report's counts to this one (e.g. one report per ingest job)."""
        self.removed.update(other.removed)
        self.flagged.update(other.flagged)
        for doc, counts in other.per_document.items():
            self.per_document.setdefault(doc, Counter()).update(counts)
        self.chunks_in += other.chunks_in
        self.chunks_out += other.chunks_out


# --- page furniture --------------------------------------------------------------------


def strip_page_furniture(
    doc: ParsedDocument, options: CleaningOptions | None = None
) -> tuple[ParsedDocument, Counter[str]]:
    """Remove running headers/footers, page numbers, repeated contents links and tables
    of contents.

    A short line that is not a sentence is furniture when it appears once per page on at
    least ``furniture_page_fraction`` of the pages, identical or differing only by a
    number that follows the page ("ACME | Form 10-Q | 7"); or when the same text is the
    top or bottom element of three or more pages, within ``edge_margin`` of the edge; or
    when it is a page number ("Page 3 of 10", or a bare number that follows the page
    count). Header/Footer elements of DOCX and other structured formats always go, and
    so do tables of contents (:func:`ingest.contents.contents_elements`).

    Returns:
        The document with those elements removed, and the counts per reason.
    """
    opts = options or CleaningOptions()
    removed: Counter[str] = Counter()
    drop = [False] * len(doc.elements)
    structural = doc.file_type in _STRUCTURAL_HEADER_TYPES
    for i in contents_elements(doc.elements, doc.page_count):
        drop[i], removed[CONTENTS_PAGE] = True, removed[CONTENTS_PAGE] + 1
    for i, el in enumerate(doc.elements):
        if drop[i]:
            continue
        if el.type in ("Header", "Footer") and structural:
            drop[i], removed[HEADER_FOOTER] = True, removed[HEADER_FOOTER] + 1
        elif el.type == "PageNumber" or _PAGE_NUMBER.match(_squash(el.text)):
            drop[i], removed[PAGE_NUMBER] = True, removed[PAGE_NUMBER] + 1
    pages = {el.page_number for el in doc.elements if el.page_number is not None}
    if len(pages) >= opts.furniture_min_pages:
        for i in _running_lines(doc.elements, len(pages), opts) | _page_counters(doc.elements):
            if not drop[i]:
                text = _squash(doc.elements[i].text)
                reason = (
                    CONTENTS_LINK
                    if _CONTENTS.match(text)
                    else (PAGE_NUMBER if text.isdigit() else RUNNING_LINE)
                )
                drop[i], removed[reason] = True, removed[reason] + 1
    kept = [el for el, gone in zip(doc.elements, drop, strict=True) if not gone]
    if removed:
        log.debug("ingest.furniture", filename=doc.filename, **removed)
    return replace(doc, elements=kept), removed


def _squash(text: str) -> str:
    return " ".join(text.split())


def _running_lines(
    elements: Sequence[ParsedElement], n_pages: int, opts: CleaningOptions
) -> set[int]:
    groups: dict[str, list[int]] = {}  # digit-masked text -> indexes of its elements
    for i, el in enumerate(elements):
        if el.page_number is not None and _could_be_furniture(el.text):
            groups.setdefault(re.sub(r"\d+", "#", _squash(el.text).lower()), []).append(i)
    need = max(opts.furniture_min_pages, opts.furniture_page_fraction * n_pages)
    out: set[int] = set()
    for key, indexes in groups.items():
        per_page = Counter(elements[i].page_number for i in indexes)
        if _CONTENTS.match(key) and len(per_page) >= 2:
            out.update(indexes)  # "Table of Contents" links: on many pages, not always most
        elif (
            any(ch.isalpha() for ch in key)
            and len(per_page) >= need
            # once per page: the column headings of tables ("June 25, 2022") repeat within
            and sum(1 for n in per_page.values() if n == 1) >= 0.8 * len(per_page)
            # the same text, or text whose only change is the page number ("| Form 10-Q | 7")
            and (
                len({_squash(elements[i].text) for i in indexes}) == 1
                or _tracks_page(elements, indexes)
            )
        ):
            out.update(indexes)
    # The topmost or bottommost element of a page, inside the margin, with the same text
    # on three or more pages (e.g. "PART I Item 2" on the pages of Item 2).
    extremes = [
        i
        for i in _page_extremes(elements, opts.edge_margin)
        if _could_be_furniture(elements[i].text)
    ]
    edge_pages: dict[str, set[int]] = {}
    for i in extremes:
        edge_pages.setdefault(_squash(elements[i].text).lower(), set()).add(
            elements[i].page_number or 0
        )
    out.update(
        i
        for i in extremes
        if len(edge_pages[_squash(elements[i].text).lower()]) >= opts.furniture_min_pages
    )
    return out


def _could_be_furniture(text: str) -> bool:
    """Short, and not a sentence: running lines don't end with a full stop."""
    squashed = _squash(text)
    if not squashed or len(squashed) > 200:
        return False
    return not (squashed.endswith((".", "!", "?")) and len(squashed.split()) >= 5)


def _tracks_page(elements: Sequence[ParsedElement], indexes: list[int]) -> bool:
    """True when the last number of each line is its page number plus one small offset."""
    offsets: Counter[int] = Counter()
    for i in indexes:
        numbers = re.findall(r"\d+", elements[i].text)
        if numbers:
            offsets[int(numbers[-1]) - (elements[i].page_number or 0)] += 1
    if not offsets:
        return False
    offset, hits = offsets.most_common(1)[0]
    return abs(offset) <= 10 and hits >= 0.8 * len(indexes)


def _page_extremes(elements: Sequence[ParsedElement], margin: float) -> set[int]:
    """Indexes of the top and bottom element of each page, when within ``margin``."""
    top: dict[int, int] = {}
    bottom: dict[int, int] = {}
    for i, el in enumerate(elements):
        if el.bbox is None or el.page_number is None:
            continue
        page = el.page_number
        if page not in top or el.bbox[1] < (elements[top[page]].bbox or el.bbox)[1]:
            top[page] = i
        if page not in bottom or el.bbox[3] > (elements[bottom[page]].bbox or el.bbox)[3]:
            bottom[page] = i
    return {i for i in top.values() if (elements[i].bbox or (0, 1, 0, 0))[1] < margin} | {
        i for i in bottom.values() if (elements[i].bbox or (0, 0, 0, 0))[3] > 1 - margin
    }


def _page_counters(elements: Sequence[ParsedElement]) -> set[int]:
    """Bare numbers that follow the page count (page + a fixed offset on 3+ pages)."""
    offsets: dict[int, list[int]] = {}
    for i, el in enumerate(elements):
        text = el.text.strip()
        if el.page_number is not None and text.isdigit() and len(text) <= 4:
            offsets.setdefault(int(text) - el.page_number, []).append(i)
    if not offsets:
        return set()
    best = max(offsets.values(), key=len)
    # One page number per page: the lowest on the page (a table cell may share the value).
    per_page: dict[int, int] = {}
    for i in best:
        page, bbox = elements[i].page_number or 0, elements[i].bbox
        held = per_page.get(page)
        if held is None or (bbox is not None and bbox[3] > (elements[held].bbox or bbox)[3]):
            per_page[page] = i
    return set(per_page.values()) if len(per_page) >= 3 else set()


# --- chunks ----------------------------------------------------------------------------


def text_fingerprint(text: str) -> str:
    """SHA-256 (hex) of the normalized text; equal for exact duplicates."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def is_informative(text: str, min_letters: int = 3) -> bool:
    """False for empty text, punctuation, lone numbers, lone words and short boilerplate."""
    norm = normalize_text(text)
    if sum(ch.isalpha() for ch in norm) < min_letters:
        return False
    if len(norm) < 20 and len(re.findall(r"[^\W\d_]{2,}", norm)) < 2:
        return False  # a lone short word ("Revenue", "Yes.") says nothing on its own
    return not (len(norm) <= 40 and _BOILERPLATE.match(norm.strip(" .:;-–—*•")))


@dataclass(frozen=True, slots=True)
class CleanedChunks:
    """Chunks that survived cleaning (renumbered from 0), and what happened."""

    chunks: list[ChunkDraft]
    report: CleaningReport
    new_hashes: set[str]  # fingerprints of the kept chunks, to add to the caller's seen set


def clean_chunks(
    chunks: Sequence[ChunkDraft],
    *,
    doc_id: str,
    seen_hashes: AbstractSet[str] = frozenset(),
    near_index: SignatureIndex | None = None,
    options: CleaningOptions | None = None,
) -> CleanedChunks:
    """Drop uninformative and duplicate chunks of one document; flag near duplicates.

    Args:
        chunks: the document's chunk drafts, in order.
        doc_id: names the document in the report.
        seen_hashes: fingerprints of chunks already stored (other documents); a chunk
            whose fingerprint is in it, or earlier in this document, is dropped.
        near_index: signatures of chunks already kept; it is updated with this
            document's kept chunks (pass the same index for the next document). A fresh
            one is used when None, so near duplicates are found within the document only.
        options: thresholds; ``near_duplicates`` says whether to flag, drop or skip.

    Returns:
        The kept chunks renumbered from 0, the report, and their fingerprints.
    """
    opts = options or CleaningOptions()
    report = CleaningReport(chunks_in=len(chunks))
    index: SignatureIndex = (
        near_index if near_index is not None else NearDuplicateIndex(opts.num_perm, opts.lsh_rows)
    )
    seen_here: set[str] = set()
    kept: list[ChunkDraft] = []
    for draft in chunks:
        chunk = draft
        if not is_informative(chunk.text, opts.min_letters):
            report.count(doc_id, UNINFORMATIVE)
            continue
        digest = text_fingerprint(chunk.text)
        if digest in seen_hashes or digest in seen_here:
            report.count(doc_id, EXACT_DUPLICATE)
            continue
        seen_here.add(digest)
        if opts.near_duplicates != "off":
            sig = minhash(chunk.text, index.num_perm)
            similar = index.query(sig, opts.near_duplicate_threshold)
            if similar is not None and opts.near_duplicates == "drop":
                report.count(doc_id, NEAR_DUPLICATE)
                continue
            if similar is not None:
                report.count(doc_id, NEAR_DUPLICATE, flag=True)
                chunk = replace(chunk, near_duplicate_of=similar)
            index.add(f"{doc_id}#{len(kept)}", sig)  # len(kept): its chunk_index once renumbered
        kept.append(chunk)
    out = [replace(c, chunk_index=i) for i, c in enumerate(kept)]
    report.chunks_out = len(out)
    log.debug(
        "ingest.cleaned",
        doc_id=doc_id,
        chunks_in=len(chunks),
        chunks_out=len(out),
        **report.removed,
    )
    return CleanedChunks(out, report, seen_here)
