"""Cleaning: page furniture, empty chunks, exact and near duplicates, the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import ChunkDraft
from ingest.cleaning import (
    CONTENTS_LINK,
    EXACT_DUPLICATE,
    HEADER_FOOTER,
    NEAR_DUPLICATE,
    PAGE_NUMBER,
    RUNNING_LINE,
    UNINFORMATIVE,
    CleaningOptions,
    CleaningReport,
    clean_chunks,
    is_informative,
    strip_page_furniture,
    text_fingerprint,
)
from ingest.minhash import NearDuplicateIndex, estimate_jaccard, minhash
from ingest.parsing import ParsedDocument, ParsedElement, parse

PdfBuilder = Callable[..., Path]
STORY = (
    "The cold storage tier keeps archived customer files for seven years and answers "
    "retrieval requests within twelve hours, at a fraction of the price of the hot tier."
)
#: A longer passage for near-duplicate tests: one changed word moves few of its shingles.
PASSAGE = " ".join(
    f"{STORY} Region {name} stores its archives in two zones and audits them every month."
    for name in ("north", "south", "east", "west")
)


def doc_of(elements: list[ParsedElement], file_type: str = "pdf") -> ParsedDocument:
    return ParsedDocument(
        filename="x", file_type=file_type, mime_type="", declared_type=file_type,
        elements=elements, size_bytes=1, sha256="0" * 64,
    )  # fmt: skip


def chunks_of(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(chunk_index=i, text=t) for i, t in enumerate(texts)]


def top(text: str, page: int) -> ParsedElement:
    return ParsedElement("Header", text, page, bbox=(0.1, 0.02, 0.5, 0.04))


def body(text: str, page: int, y: float = 0.5) -> ParsedElement:
    return ParsedElement("NarrativeText", text, page, bbox=(0.1, y, 0.9, y + 0.05))


def bottom(text: str, page: int) -> ParsedElement:
    return ParsedElement("Footer", text, page, bbox=(0.4, 0.95, 0.6, 0.97))


# --- page furniture -----------------------------------------------------------------------


def test_generated_report_loses_header_and_page_numbers(docs_dir: Path) -> None:
    parsed = parse(docs_dir / "report.pdf")
    cleaned, removed = strip_page_furniture(parsed)
    texts = [e.text for e in cleaned.elements]
    assert not any("Quarterly Report Q3" in t or t.startswith("Page ") for t in texts)
    assert removed == Counter({RUNNING_LINE: 4, PAGE_NUMBER: 4})
    assert len(cleaned.elements) == len(parsed.elements) - 8
    assert sum(t.endswith(" Results") for t in texts) == 4  # the headings stay
    # the same sentence on every page is content, not a running line
    assert sum(t.startswith("Operating expenses stayed flat") for t in texts) == 4


def test_running_lines_with_page_numbers_inside_are_one_line() -> None:
    elements = [
        e
        for p in range(1, 7)
        for e in (body(STORY, p), body(f"Apple Inc. | Q3 2022 Form 10-Q | {p + 2}", p, 0.6))
    ]
    cleaned, removed = strip_page_furniture(doc_of(elements))
    assert removed == Counter({RUNNING_LINE: 6})  # mid-page in reading order, still furniture
    assert all(e.text.startswith("The cold storage") for e in cleaned.elements)


def test_lines_repeated_within_pages_are_kept() -> None:
    # Column headings of financial tables repeat on most pages, several times per page.
    elements = [
        e
        for p in range(1, 7)
        for e in (body("June 25, 2022", p), body(STORY, p), body("June 25, 2022", p, 0.7))
    ]
    cleaned, removed = strip_page_furniture(doc_of(elements))
    assert removed == Counter()
    assert len(cleaned.elements) == len(elements)


def test_edge_lines_on_some_pages_are_furniture() -> None:
    elements = []
    for p in range(1, 11):
        if p <= 4:  # a running header on the 4 pages of one section only (40%)
            elements.append(top("PART II Item 1A", p))
        elements += [body(STORY, p), bottom(str(p + 2), p)]  # printed page = page + 2
    elements.append(body("7", 3, 0.5))  # a figure that happens to equal a page number
    cleaned, removed = strip_page_furniture(doc_of(elements))
    assert removed == Counter({RUNNING_LINE: 4, PAGE_NUMBER: 10})
    assert [e.text for e in cleaned.elements].count("7") == 1


def test_unique_top_lines_and_short_documents_are_kept() -> None:
    names = ["Scope", "Method", "Results", "Outlook"]
    elements = [e for p in range(1, 5) for e in (top(names[p - 1], p), body(STORY, p))]
    assert strip_page_furniture(doc_of(elements))[1] == Counter()
    two_pages = [e for p in (1, 2) for e in (top("ACME", p), body(STORY, p))]
    assert strip_page_furniture(doc_of(two_pages))[1] == Counter()


@pytest.mark.parametrize(
    ("text", "reason"),
    [("Page 3 of 10", PAGE_NUMBER), ("page 7", PAGE_NUMBER), ("- 12 -", PAGE_NUMBER),
     ("3 / 10", PAGE_NUMBER)],
)  # fmt: skip
def test_page_number_phrases_always_go(text: str, reason: str) -> None:
    cleaned, removed = strip_page_furniture(doc_of([body(STORY, 1), body(text, 1)]))
    assert removed == Counter({reason: 1})
    assert [e.text for e in cleaned.elements] == [STORY]


def test_contents_links_and_docx_headers() -> None:
    linked = [e for p in range(1, 4) for e in (body("Table of Contents", p, 0.3), body(STORY, p))]
    assert strip_page_furniture(doc_of(linked))[1] == Counter({CONTENTS_LINK: 3})
    docx = [ParsedElement("Header", "ACME Confidential"), body(STORY, 1),
            ParsedElement("Footer", "Internal use only")]  # fmt: skip
    cleaned, removed = strip_page_furniture(doc_of(docx, "docx"))
    assert removed == Counter({HEADER_FOOTER: 2})
    assert [e.text for e in cleaned.elements] == [STORY]
    # In a PDF "Header" only means "near the top": a unique one is content.
    assert strip_page_furniture(doc_of(docx, "pdf"))[1] == Counter()


# --- informative ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "informative"),
    [
        ("", False),
        ("   \n ", False),
        ("... --- !!!", False),
        ("42", False),
        ("$ 1,234 (56)", False),
        ("Q3", False),
        ("(continued)", False),
        ("Table of Contents", False),
        ("This page intentionally left blank.", False),
        ("None.", False),
        ("Net income", True),
        ("Revenue grew 11% in Europe.", True),
        (STORY, True),
    ],
)
def test_is_informative(text: str, informative: bool) -> None:
    assert is_informative(text) is informative


# --- duplicates -------------------------------------------------------------------------


def test_exact_duplicates_within_and_across_documents() -> None:
    copy = "  the COLD storage tier keeps " + STORY[len("The cold storage tier keeps ") :]
    first = clean_chunks(chunks_of(STORY, "Two.", copy), doc_id="a")
    assert [c.text for c in first.chunks] == [STORY]  # "Two." uninformative; case/space dup
    assert first.report.removed == Counter({UNINFORMATIVE: 1, EXACT_DUPLICATE: 1})
    assert first.new_hashes == {text_fingerprint(STORY)}
    second = clean_chunks(
        chunks_of(STORY, "A different paragraph about billing cycles and invoices."),
        doc_id="b",
        seen_hashes=first.new_hashes,
    )
    assert [c.chunk_index for c in second.chunks] == [0]  # renumbered
    assert second.report.per_document == {"b": Counter({EXACT_DUPLICATE: 1})}


def near_copy(text: str) -> str:
    return text.replace("audits them every month", "audits them every week", 1)


@pytest.mark.parametrize(
    ("mode", "kept", "flagged"), [("flag", 2, 1), ("drop", 1, 0), ("off", 2, 0)]
)
def test_near_duplicates(mode: str, kept: int, flagged: int) -> None:
    options = CleaningOptions(near_duplicates=mode, near_duplicate_threshold=0.8)  # type: ignore[arg-type]
    result = clean_chunks(chunks_of(PASSAGE, near_copy(PASSAGE)), doc_id="d", options=options)
    assert len(result.chunks) == kept
    assert result.report.flagged[NEAR_DUPLICATE] == flagged
    if mode == "flag":
        assert result.chunks[1].near_duplicate_of == "d#0"
    if mode == "drop":
        assert result.report.removed == Counter({NEAR_DUPLICATE: 1})


def test_near_duplicates_across_documents_and_new_versions() -> None:
    index = NearDuplicateIndex()
    options = CleaningOptions(near_duplicate_threshold=0.8)
    clean_chunks(chunks_of(PASSAGE), doc_id="a", near_index=index, options=options)
    other = clean_chunks(
        chunks_of(near_copy(PASSAGE)), doc_id="b", near_index=index, options=options
    )
    assert other.chunks[0].near_duplicate_of == "a#0"
    assert index.discard_document("a") == 1
    again = clean_chunks(chunks_of(PASSAGE), doc_id="a", near_index=index, options=options)
    assert again.chunks[0].near_duplicate_of == "b#0"  # only b's copy is left to match
    assert len(index) == 2


def test_minhash_estimates_jaccard() -> None:
    a = " ".join(f"w{i}" for i in range(200))
    b = " ".join(f"w{i}" for i in range(100, 300))  # 98 of 298 shingles shared
    estimate = estimate_jaccard(minhash(a), minhash(b))
    assert abs(estimate - 98 / 298) < 0.12
    assert estimate_jaccard(minhash(a), minhash(a)) == 1.0
    assert estimate_jaccard(minhash(a), minhash("completely other words here")) < 0.1


def test_report_merge() -> None:
    one = clean_chunks(chunks_of("x", STORY, STORY), doc_id="a").report
    two = clean_chunks(chunks_of("", STORY), doc_id="b").report
    one.merge(two)
    assert one.removed == Counter({UNINFORMATIVE: 2, EXACT_DUPLICATE: 1})
    assert (one.chunks_in, one.chunks_out) == (5, 2)
    assert set(one.per_document) == {"a", "b"}
    total = CleaningReport()
    total.count_all("c", Counter({RUNNING_LINE: 3}))
    assert total.per_document["c"][RUNNING_LINE] == 3


# --- properties ---------------------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)
_informative = st.lists(_word, min_size=3, max_size=30).map(" ".join)
_any_text = st.one_of(_informative, st.sampled_from(["", "42", "...", "Page 2", "(continued)"]))
_modes = st.sampled_from(["flag", "drop", "off"])


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(_informative, max_size=15, unique_by=text_fingerprint))
def test_unique_informative_chunks_are_never_dropped(texts: list[str]) -> None:
    result = clean_chunks(chunks_of(*texts), doc_id="p")  # near duplicates are only flagged
    assert [c.text for c in result.chunks] == texts
    assert sum(result.report.removed.values()) == 0


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(_any_text, max_size=20), mode=_modes)
def test_cleaning_is_idempotent_and_counts_every_drop(texts: list[str], mode: str) -> None:
    options = CleaningOptions(near_duplicates=mode)  # type: ignore[arg-type]
    once = clean_chunks(chunks_of(*texts), doc_id="p", options=options)
    assert once.report.chunks_out + sum(once.report.removed.values()) == len(texts)
    twice = clean_chunks(once.chunks, doc_id="p", options=options)
    assert [c.text for c in twice.chunks] == [c.text for c in once.chunks]
    assert sum(twice.report.removed.values()) == 0


# --- SEC filings ---------------------------------------------------------------------------


def test_sec_furniture(msft_docs: dict[str, ParsedDocument]) -> None:
    for doc in msft_docs.values():
        cleaned, removed = strip_page_furniture(doc)
        gone = Counter(e.text for e in doc.elements) - Counter(e.text for e in cleaned.elements)
        assert gone["PART I Item 1"] >= 28  # the running header of Item 1's pages
        assert removed[PAGE_NUMBER] >= 60
        assert "(In millions)" not in gone  # table captions near the top stay
        # by characters, which any parser gives alike (elements: ~900 from PDFium, ~2,260
        # from unstructured's fast path; both remove ~0.4% of the characters)
        kept = sum(len(e.text) for e in cleaned.elements)
        total = sum(len(e.text) for e in doc.elements)
        assert total - kept < 0.01 * total
