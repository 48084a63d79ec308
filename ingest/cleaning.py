"""Cleaning: page furniture out before chunking; empty and duplicate chunks out after.

Pure functions over parsed elements and chunk drafts. Nothing is dropped silently:
every removal is counted by reason (and by document) in a :class:`CleaningReport`.

- ``strip_page_furniture`` removes running headers and footers, page numbers,
  repeated "Table of Contents" links and tables of contents themselves
  (:mod:`ingest.contents`), which would otherwise be glued into chunks.
- ``clean_chunks`` drops chunks without information, exact duplicates (SHA-256 of the
  normalized text, across documents through ``seen_hashes``) and flags or drops near
  duplicates (MinHash over word 3-shingles, with LSH buckets: a ``SignatureIndex``, in
  memory here, in the registry database during ingestion: :mod:`ingest.signatures`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from core import get_logger
from ingest.chunking import ChunkDraft
from ingest.contents import contents_elements
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
_MERSENNE = 4294967311  # smallest prime above 2**32: (a*x + b) stays below 2**64


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


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: what "the same text" means here."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


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


def _rng_params(num_perm: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    # Fixed seed: signatures must be comparable across processes and runs.
    rng = np.random.default_rng(20240611)
    a = rng.integers(1, 2**32 - 1, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 2**32 - 1, size=num_perm, dtype=np.uint64)
    return a, b


_PARAMS: dict[int, tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] = {}


def minhash(text: str, num_perm: int = 128, shingle_words: int = 3) -> npt.NDArray[np.uint64]:
    """MinHash signature of the set of word ``shingle_words``-grams of ``text``."""
    words = re.findall(r"\w+", normalize_text(text))
    k = min(shingle_words, len(words)) or 1
    shingles = {" ".join(words[i : i + k]) for i in range(max(1, len(words) - k + 1))}
    x = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64)
    if num_perm not in _PARAMS:
        _PARAMS[num_perm] = _rng_params(num_perm)
    a, b = _PARAMS[num_perm]
    hashed = (a[:, None] * x[None, :] + b[:, None]) % np.uint64(_MERSENNE)
    signature: npt.NDArray[np.uint64] = hashed.min(axis=1)
    return signature


def estimate_jaccard(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> float:
    """Share of equal MinHash values: an unbiased estimate of the Jaccard similarity."""
    return float(np.mean(a == b))


def band_keys(sig: npt.NDArray[np.uint64], rows: int) -> list[tuple[int, bytes]]:
    """The LSH bands of ``sig``: ``(band number, its rows' bytes)``. Two signatures that
    share a band are candidates; ``rows`` per band sets the similarity they catch."""
    return [
        (band, sig[band * rows : (band + 1) * rows].tobytes()) for band in range(len(sig) // rows)
    ]


def most_similar(
    sig: npt.NDArray[np.uint64],
    candidates: Mapping[str, npt.NDArray[np.uint64]],
    threshold: float,
) -> str | None:
    """The key of the candidate most similar to ``sig`` at or above ``threshold`` (of equals,
    the last in key order), or None."""
    best, best_sim = None, threshold
    for key in sorted(candidates):
        sim = estimate_jaccard(sig, candidates[key])
        if sim >= best_sim:
            best, best_sim = key, sim
    return best


class SignatureIndex(Protocol):
    """Where :func:`clean_chunks` looks up and stores the signatures of kept chunks."""

    @property
    def num_perm(self) -> int: ...

    def query(self, sig: npt.NDArray[np.uint64], threshold: float) -> str | None:
        """The key of the most similar stored signature at or above ``threshold``."""
        ...

    def add(self, key: str, sig: npt.NDArray[np.uint64]) -> None:
        """Store ``sig`` under ``key``."""
        ...


class NearDuplicateIndex:
    """MinHash signatures in LSH buckets, in memory, to find near duplicates without
    comparing all pairs.

    Keys are ``"<doc_id>#<chunk_index>"``. Keep one per tenant and access scope to catch
    near duplicates across documents; ``discard_document`` before a new version. Ingestion
    keeps them in the registry database instead (:mod:`ingest.signatures`), where every
    worker sees them.
    """

    def __init__(self, num_perm: int = 128, rows: int = 8) -> None:
        if num_perm % rows:
            raise ValueError("num_perm must be a multiple of rows")
        self.num_perm, self.rows = num_perm, rows
        self._signatures: dict[str, npt.NDArray[np.uint64]] = {}
        self._buckets: dict[tuple[int, bytes], list[str]] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def candidates(self, sig: npt.NDArray[np.uint64]) -> dict[str, npt.NDArray[np.uint64]]:
        """The stored signatures that share a band with ``sig``, by key."""
        keys = {key for band in band_keys(sig, self.rows) for key in self._buckets.get(band, ())}
        return {key: self._signatures[key] for key in keys}

    def query(self, sig: npt.NDArray[np.uint64], threshold: float) -> str | None:
        """The key of the most similar stored signature at or above ``threshold``."""
        return most_similar(sig, self.candidates(sig), threshold)

    def discard_document(self, doc_id: str) -> int:
        """Forget every signature of ``doc_id`` (before re-ingesting a new version of it).

        Returns:
            How many signatures were removed.
        """
        prefix = f"{doc_id}#"
        gone = [key for key in self._signatures if key.startswith(prefix)]
        for key in gone:
            for band in band_keys(self._signatures.pop(key), self.rows):
                self._buckets[band].remove(key)
        return len(gone)

    def add(self, key: str, sig: npt.NDArray[np.uint64]) -> None:
        """Store ``sig`` under ``key``."""
        self._signatures[key] = sig
        for band in band_keys(sig, self.rows):
            self._buckets.setdefault(band, []).append(key)


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
