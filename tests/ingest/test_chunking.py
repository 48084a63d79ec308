"""chunk_elements(): headings, tables, sizes, merging; properties; SEC filings.

Measured on five SEC 10-Q filings (AAPL/AMZN 2022 Q3, NVDA 2023 Q2, both big MSFT;
275 pages) after page-furniture removal, sizes 1000/800/200 characters, against
unstructured's ``chunk_by_title`` with the same sizes on the same elements:

==============================  ======  ==========  ========  ==============  ============
chunker                         chunks  mean chars  < 200 ch  > 256 pieces    heading path
==============================  ======  ==========  ========  ==============  ============
deepwell                        1,180   ~700        0-4%      3-7%            95-100%
deepwell, MiniLM count_tokens   1,215   ~690        0-4%      0%              95-100%
chunk_by_title                  1,530   ~550        3-12%     1-2%            none
==============================  ======  ==========  ========  ==============  ============

Chunking takes 4-12 ms a filing (0.15-0.35 s with the token counter); parsing, 5-15 s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import IngestSettings
from ingest.chunking import (
    ChunkDraft,
    ChunkLimits,
    chunk_elements,
    heading_levels,
    render_row,
    split_text,
    table_grid,
    table_rows,
)
from ingest.cleaning import strip_page_furniture
from ingest.parsing import ParsedDocument, ParsedElement

LIMITS = ChunkLimits(max_chars=300, new_after_chars=240, combine_under_chars=60)
PROSE = "The storage service keeps customer files in three regions and replicates them."


def el(kind: str, text: str, page: int | None = None, depth: int | None = None) -> ParsedElement:
    return ParsedElement(type=kind, text=text, page_number=page, depth=depth)


def table(
    rows: Sequence[Sequence[str]], page: int | None = None, sheet: str | None = None
) -> ParsedElement:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    flat = " ".join(c for r in rows for c in r)
    return ParsedElement(
        "Table", flat, page, text_as_html=f"<table>{body}</table>", page_name=sheet
    )


def sections(chunks: list[ChunkDraft]) -> list[list[str]]:
    return [c.section for c in chunks]


# --- headings -----------------------------------------------------------------------------


def test_heading_path_follows_depth_and_starts_chunks() -> None:
    chunks = chunk_elements(
        [
            el("Title", "Guide", depth=0),
            el("NarrativeText", PROSE),
            el("Title", "Install", depth=1),
            el("NarrativeText", PROSE),
            el("Title", "Linux", depth=2),
            el("NarrativeText", PROSE),
            el("Title", "Upgrade", depth=1),
            el("NarrativeText", PROSE),
        ],
        ChunkLimits(max_chars=300, new_after_chars=240, combine_under_chars=0),
    )
    assert sections(chunks) == [
        ["Guide"],
        ["Guide", "Install"],
        ["Guide", "Install", "Linux"],
        ["Guide", "Upgrade"],
    ]
    assert [c.text.splitlines()[0] for c in chunks] == ["Guide", "Install", "Linux", "Upgrade"]
    assert [c.chunk_index for c in chunks] == [0, 1, 2, 3]
    assert chunks[0].element_types == ["Title", "NarrativeText"]


@pytest.mark.parametrize(
    ("title", "next_kind", "is_heading"),
    [
        ("to", "NarrativeText", False),  # pdfminer's favourite "Title"
        ("Yes ☐ No ☒", "NarrativeText", False),
        ("Total net sales", "UncategorizedText", False),  # a row label followed by figures
        ("(In millions)", "NarrativeText", False),
        ("new or unexpected end use cases;", "ListItem", False),
        ("June 25, 2022", "NarrativeText", False),
        ("Liquidity and Capital Resources", "NarrativeText", True),
        ("Segment Operating Performance", "ListItem", True),
    ],
)
def test_pdf_titles_open_sections_only_when_they_look_like_headings(
    title: str, next_kind: str, is_heading: bool
) -> None:
    levels = heading_levels([el("Title", title, 5), el(next_kind, PROSE, 5)])
    assert (levels[0] is not None) is is_heading


def test_numbered_parts_nest_whatever_their_element_type() -> None:
    elements = [
        el("Title", "PART I — FINANCIAL INFORMATION", 4),
        el("UncategorizedText", "Item 2. Management’s Discussion and Analysis", 17),
        el("NarrativeText", PROSE, 17),
        el("Header", "NOTE 3 — OTHER INCOME", 18),
        el("NarrativeText", PROSE, 18),
        el("NarrativeText", "Part II, Item 1A of this report describes the risks.", 18),
        el("Title", "PART II — OTHER INFORMATION", 23),
        el("NarrativeText", PROSE, 23),
    ]
    assert heading_levels(elements) == [0, 1, None, 2, None, None, 0, None]
    chunks = chunk_elements(elements, LIMITS)
    assert chunks[-1].section == ["PART II — OTHER INFORMATION"]
    assert ["PART I — FINANCIAL INFORMATION", "Item 2. Management’s Discussion and Analysis",
            "NOTE 3 — OTHER INCOME"] in sections(chunks)  # fmt: skip


def test_table_of_contents_near_the_start_opens_no_sections() -> None:
    toc = [el("Title", f"Item {i}.", 2) for i in range(1, 5)]
    body = [el("Title", "Note 1 – Revenue", 9), el("NarrativeText", PROSE, 9)]
    filler = [el("NarrativeText", PROSE, p) for p in range(10, 31)]
    levels = heading_levels([*toc, *body, *filler])
    assert levels[:4] == [None] * 4
    assert levels[4] == 2


def test_worksheets_head_their_tables() -> None:
    chunks = chunk_elements(
        [table([["a", "b"], ["1", "2"]]), table([["c"], ["3"]])],
        LIMITS,
    )
    assert sections(chunks) == [[], []]
    named = [table([["a"], ["1"]], 1, "Revenue"), table([["c"], ["3"]], 2, "Headcount")]
    assert sections(chunk_elements(named, LIMITS)) == [["Revenue"], ["Headcount"]]


# --- tables -------------------------------------------------------------------------------


def test_small_table_is_one_chunk_with_its_heading_and_html() -> None:
    rows = [["Tier", "Price"], ["Hot", "0.02"], ["Cold", "0.004"]]
    chunks = chunk_elements(
        [el("Title", "Pricing", depth=0), table(rows), el("NarrativeText", PROSE * 3)], LIMITS
    )
    first = chunks[0]
    assert first.text == "Pricing\nTier | Price\nHot | 0.02\nCold | 0.004"
    assert first.text_as_html is not None
    assert table_rows(first.text_as_html) == rows
    assert first.element_types == ["Title", "Table"]
    assert all(c.text_as_html is None for c in chunks[1:])  # nothing appended after a table


def test_table_that_fits_is_never_split() -> None:
    rows = [["Region", "Revenue"], *([f"Region {i}", f"{i * 10}"] for i in range(14))]
    text_before = el("NarrativeText", "x" * 250)
    chunks = chunk_elements([text_before, table(rows), text_before], LIMITS)
    tables = [c for c in chunks if c.text_as_html]
    assert len(tables) == 1
    assert table_rows(tables[0].text_as_html or "") == rows


def test_big_table_splits_by_rows_and_repeats_the_header() -> None:
    header = ["Quarter", "Region", "Revenue"]
    body = [[f"Q{i % 4 + 1}", f"Region number {i}", f"{i * 1000:,}"] for i in range(60)]
    chunks = chunk_elements([table([header, *body], page=7)], LIMITS)
    assert len(chunks) > 1
    seen: list[list[str]] = []
    for chunk in chunks:
        assert len(chunk.text) <= LIMITS.max_chars
        assert chunk.text.startswith("Quarter | Region | Revenue\n")
        rows = table_rows(chunk.text_as_html or "")
        assert rows[0] == header
        seen += rows[1:]
        assert (chunk.page_start, chunk.page_end) == (7, 7)
    assert seen == body  # every row once, in order


STATEMENT_TITLE = "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)"
UNITS = "(In millions, except number of shares and per share amounts)"


def statement_table(n_rows: int) -> ParsedElement:
    """A financial statement as the PDF layout parser emits it: caption, two header rows."""
    head = (
        "<thead><tr><th></th><th>Three Months Ended</th><th>Three Months Ended</th></tr>"
        "<tr><th></th><th>July 1, 2023</th><th>June 25, 2022</th></tr></thead>"
    )
    body = "<tr><td>Operating expenses:</td><td></td><td></td></tr>" + "".join(
        f"<tr><td>Line item {i}</td><td>{i},{i:03d}</td><td>({i * 7:,})</td></tr>"
        for i in range(n_rows)
    )
    markup = f"<table><caption>{UNITS}</caption>{head}<tbody>{body}</tbody></table>"
    return ParsedElement("Table", "flat text", 4, text_as_html=markup)


def test_table_chunks_carry_title_caption_and_header_rows_in_every_part() -> None:
    limits = ChunkLimits(max_chars=600, new_after_chars=500, combine_under_chars=100)
    elements = [
        el("NarrativeText", PROSE * 2, 4),
        el("Title", STATEMENT_TITLE, 4),  # no depth: a PDF title, followed by its table
        statement_table(40),
    ]
    chunks = [c for c in chunk_elements(elements, limits) if c.text_as_html]
    assert len(chunks) > 2
    rows_seen: list[str] = []
    for chunk in chunks:
        lines = chunk.text.splitlines()
        assert lines[:4] == [
            STATEMENT_TITLE,
            UNITS,
            " | Three Months Ended | Three Months Ended",
            " | July 1, 2023 | June 25, 2022",
        ]
        assert "<" not in chunk.text  # readable rows, no markup
        assert len(chunk.text) <= limits.max_chars
        assert chunk.section == [STATEMENT_TITLE]  # a title over a table heads a section
        grid = table_grid(chunk.text_as_html or "")
        assert grid.caption == UNITS
        assert len(grid.header) == 2
        rows_seen += lines[4:]
    assert rows_seen[0] == "Operating expenses:"  # a row heading without its empty cells
    assert rows_seen[1:] == [f"Line item {i} | {i},{i:03d} | ({i * 7:,})" for i in range(40)]
    assert STATEMENT_TITLE not in "".join(
        c.text for c in chunk_elements(elements, limits) if not c.text_as_html
    )  # the title travels with its table, not as a chunk of its own


def test_table_under_a_section_heading_starts_with_it() -> None:
    """A DOCX/HTML table after prose carries its section's heading."""
    rows = [["Tier", "Price per GB"], ["Hot storage", "0.02"], ["Cold archive storage", "0.004"]]
    chunks = chunk_elements(
        [el("Title", "Storage fees", depth=1), el("NarrativeText", PROSE * 3), table(rows)],
        LIMITS,
    )
    (tab,) = [c for c in chunks if c.text_as_html]
    assert tab.text == (
        "Storage fees\nTier | Price per GB\nHot storage | 0.02\nCold archive storage | 0.004"
    )
    assert tab.section == ["Storage fees"]


def test_header_rows_are_the_leading_th_rows() -> None:
    markup = (
        "<table><caption>Fees (in EUR)</caption><tr><th>Plan</th><th>Monthly</th></tr>"
        "<tr><td>Basic</td><td>10</td></tr><tr><td>Pro</td><td></td></tr></table>"
    )
    grid = table_grid(markup)
    assert grid.caption == "Fees (in EUR)"
    assert grid.header == [["Plan", "Monthly"]]
    assert grid.body == [["Basic", "10"], ["Pro", ""]]
    assert [render_row(r) for r in grid.body] == ["Basic | 10", "Pro"]
    assert render_row(["", "2023", ""]) == " | 2023"


def test_table_without_html_splits_as_text() -> None:
    chunks = chunk_elements([el("Table", "cell " * 200)], LIMITS)
    assert len(chunks) > 1
    assert all(len(c.text) <= LIMITS.max_chars and c.text_as_html is None for c in chunks)


# --- sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        ". ".join(f"Sentence number {i} says something" for i in range(40)),
        "\n\n".join(PROSE for _ in range(10)),
        "x" * 1234,  # no boundary at all: halves
        " ".join(["word"] * 400),
    ],
    ids=["sentences", "paragraphs", "no-boundary", "words"],
)
def test_long_text_is_split_under_the_maximum(text: str) -> None:
    pieces = split_text(text, 300)
    assert all(len(p) <= 300 for p in pieces)
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", text)


def test_small_chunks_are_combined_and_pages_span() -> None:
    elements = [
        el("Title", "Risks", 3, depth=0),
        el("Title", "Market", 3, depth=1),
        el("NarrativeText", "Prices may fall.", 3),
        el("Title", "Credit", 4, depth=1),
        el("NarrativeText", "Customers may not pay.", 4),
    ]
    chunks = chunk_elements(elements, LIMITS)
    assert len(chunks) == 1
    assert chunks[0].section == ["Risks", "Market"]
    assert (chunks[0].page_start, chunks[0].page_end) == (3, 4)


def test_settings_sizes_are_used() -> None:
    text = " ".join(["alpha"] * 1000)
    chunks = chunk_elements([el("NarrativeText", text)], IngestSettings(chunk_max_chars=500))
    assert max(len(c.text) for c in chunks) <= 500
    assert max(len(c.text) for c in chunk_elements([el("NarrativeText", text)])) <= 1000


def test_token_counter_caps_chunks() -> None:
    def count(text: str) -> int:  # a stand-in tokenizer: figures cost one token per char
        return sum(len(w) if any(ch.isdigit() for ch in w) else 1 for w in text.split())

    figures = [el("UncategorizedText", "12,345 (6,789) 1,011,121") for _ in range(40)]
    limits = ChunkLimits(max_chars=1000, new_after_chars=800, combine_under_chars=0,
                         max_tokens=64)  # fmt: skip
    by_chars = chunk_elements(figures, limits)
    by_tokens = chunk_elements(figures, limits, count_tokens=count)
    assert max(count(c.text) for c in by_chars) > 64
    assert max(count(c.text) for c in by_tokens) <= 64
    assert len(by_tokens) > len(by_chars)


# --- properties ---------------------------------------------------------------------------

_kinds = st.sampled_from(["Title", "NarrativeText", "ListItem", "UncategorizedText", "Header"])
_words = st.text(alphabet="abcdefghij XYZ.,;:\n0123456789", min_size=1, max_size=400)
_elements = st.lists(
    st.builds(
        ParsedElement,
        type=_kinds,
        text=_words,
        page_number=st.one_of(st.none(), st.integers(1, 40)),
        depth=st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements=_elements, max_chars=st.integers(100, 600))
def test_chunks_fit_and_lose_no_text(elements: list[ParsedElement], max_chars: int) -> None:
    limits = ChunkLimits(max_chars, max_chars * 4 // 5, max_chars // 5)
    chunks = chunk_elements(elements, limits)
    assert all(len(c.text) <= max_chars for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    # Every non-space character survives, in order (tables aside, which are re-rendered).
    squash = re.compile(r"\s")
    assert squash.sub("", "".join(c.text for c in chunks)) == squash.sub(
        "", "".join(e.text for e in elements)
    )
    for c in chunks:
        if c.page_start is not None:
            assert c.page_end is not None
            assert c.page_start <= c.page_end


# --- SEC filings ---------------------------------------------------------------------------


def test_sec_filings_chunk_well(msft_docs: dict[str, ParsedDocument]) -> None:
    from unstructured.chunking.title import chunk_by_title
    from unstructured.documents.elements import TYPE_TO_TEXT_ELEMENT_MAP, ElementMetadata, Text

    for doc in msft_docs.values():
        elements = strip_page_furniture(doc)[0].elements
        chunks = chunk_elements(elements)
        assert all(len(c.text) <= 1000 for c in chunks)
        assert sum(1 for c in chunks if c.section) >= 0.95 * len(chunks)
        assert sum(1 for c in chunks if len(c.text) < 200) <= 0.05 * len(chunks)
        assert {"ITEM 1A. RISK FACTORS", "PART II. OTHER INFORMATION"} <= {
            s for c in chunks for s in c.section
        }
        assert all(c.page_start is not None for c in chunks)
        baseline = chunk_by_title(
            [
                TYPE_TO_TEXT_ELEMENT_MAP.get(e.type, Text)(
                    text=e.text, metadata=ElementMetadata(page_number=e.page_number)
                )
                for e in elements
            ],
            max_characters=1000,
            new_after_n_chars=800,
            combine_text_under_n_chars=200,
        )
        assert len(chunks) < len(baseline)  # fewer, fuller chunks
