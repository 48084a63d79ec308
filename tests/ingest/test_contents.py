"""Tables of contents out of the index, and tables continued past a page footer.

The PDFs are written here with pikepdf, each string where a real document puts it: TOC
titles at the left, page numbers right-aligned in a column (after dot leaders or not),
entries that are links to other pages, a schedule with one column of values that must
stay, and a table that goes on over a page whose footer follows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name

from ingest.chunking import chunk_elements
from ingest.cleaning import CONTENTS_LINK, CONTENTS_PAGE, clean_chunks, strip_page_furniture
from ingest.contents import contents_elements
from ingest.parsing import ParsedDocument, ParsedElement, parse
from ingest.pdf_contents import ContentsHints, entry, find_contents
from ingest.pdf_layout import partition_pdf_layout
from ingest.pdf_tables import Line, Word

#: A string on a page: (x, y, text, font size) in PDF points, origin bottom left.
Put = tuple[float, float, str, float]
#: A link on a page: (x0, y0, x1, y1) in PDF points, and the 0-based page it goes to.
Link = tuple[tuple[float, float, float, float], int]

_NARROW = {",": 0.278, ".": 0.278, " ": 0.278, "(": 0.333, ")": 0.333, "i": 0.222}


def _width(text: str, size: float) -> float:
    return sum(_NARROW.get(ch, 0.556) for ch in text) * size


def right(x: float, y: float, text: str, size: float = 10) -> Put:
    """``text`` right-aligned at ``x``, as page numbers and figures are set."""
    return (x - _width(text, size), y, text, size)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(
    path: Path, pages: Sequence[Sequence[Put]], links: Sequence[Sequence[Link]] = ()
) -> Path:
    """A PDF of US-letter pages carrying the given strings and links to its own pages."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name.Helvetica,
            Encoding=Name.WinAnsiEncoding,
        )
    )
    for puts in pages:
        ops = [
            f"BT /F1 {pt:g} Tf 1 0 0 1 {x:g} {y:g} Tm ({_escape(text)}) Tj ET"
            for x, y, text, pt in puts
        ]
        page = Dictionary(
            Type=Name.Page,
            MediaBox=Array([0, 0, 612, 792]),
            Contents=pdf.make_stream("\n".join(ops).encode("cp1252")),
            Resources=Dictionary(Font=Dictionary(F1=font)),
        )
        pdf.pages.append(pikepdf.Page(page))
    for n, page_links in enumerate(links):
        annots = Array()
        for (x0, y0, x1, y1), target in page_links:
            annot = Dictionary(
                Type=Name.Annot,
                Subtype=Name.Link,
                Rect=Array([x0, y0, x1, y1]),
                Border=Array([0, 0, 0]),
                Dest=Array([pdf.pages[target].obj, Name.Fit]),
            )
            annots.append(pdf.make_indirect(annot))
        if len(annots):
            pdf.pages[n].obj.Annots = annots
    pdf.save(path)
    return path


def prose(top: float, *texts: str, size: float = 10) -> list[Put]:
    """Lines of body text from ``top`` down."""
    return [(72, top - 14 * i, text, size) for i, text in enumerate(texts)]


BODY = {
    "Introduction": "The study enrols adults with chronic hepatitis C across forty sites.",
    "Study Design": "Patients are randomised two to one to the new regimen or to placebo.",
    "Safety Monitoring": "An independent board reviews adverse events every eight weeks.",
    "Statistical Analysis": "The primary endpoint is sustained response twelve weeks after.",
}


def body_pages() -> list[list[Put]]:
    """Two pages of the document the TOC points to: each section's heading and text."""
    names = list(BODY)
    pages: list[list[Put]] = [[], []]
    for k, name in enumerate(names):
        top = 720 - 80 * (k % 2)
        pages[k // 2] += [(72, top, name, 14), *prose(top - 20, BODY[name])]
    return pages


def cover(with_toc: list[Put]) -> list[Put]:
    """A cover page: the protocol's title and summary above its table of contents."""
    return [
        (72, 740, "Clinical Study Protocol HCV-301", 16),
        *prose(715, "Sponsor: Northwind Therapeutics. Version 4.0, 12 March 2024."),
        *with_toc,
    ]


def leader_toc(glued: bool) -> list[Put]:
    """Entries with dot leaders up to the page number, no heading above them."""
    puts: list[Put] = []
    for k, (name, page) in enumerate(zip(BODY, ("2", "2", "3", "3"), strict=True)):
        y = 660 - 18 * k
        title = f"{k + 1}. {name}"
        if glued:  # title, leaders and number drawn as one string
            dots = "." * int((500 - 72 - _width(title, 10)) / _width(".", 10))
            puts.append((72, y, f"{title}{dots}{page}", 10))
        else:
            start = 72 + _width(title, 10) + 4
            puts += [(72, y, title, 10), (start, y, "." * 70, 10), right(540, y, page)]
    return puts


def aligned_toc() -> list[Put]:
    """A "Table of Contents" heading, a "Page" header, part headings between the entries,
    a title wrapped onto a second line; numbers right-aligned, no leaders."""
    rows: list[tuple[str, str | None]] = [
        ("PART I. THE STUDY", None),
        ("Item 1. Introduction", "2"),
        ("Item 2. Study Design and the randomisation of patients between the two", None),
        ("arms of the trial", "2"),
        ("PART II. OVERSIGHT", None),
        ("Item 3. Safety Monitoring", "3"),
        ("Item 4. Statistical Analysis", "3"),
    ]
    puts: list[Put] = [(240, 670, "Table of Contents", 12), right(540, 650, "Page", 9)]
    for k, (title, page) in enumerate(rows):
        y = 634 - 14 * k
        indent = 90 if title[:1].islower() else 72
        puts.append((indent, y, title, 10))
        if page:
            puts.append(right(540, y, page))
    return puts


def _elements(path: Path) -> list[Any]:
    return partition_pdf_layout(path.read_bytes(), filename=path.name)


def _contents(elements: Sequence[Any]) -> list[Any]:
    html = [(el, el.metadata.text_as_html or "") for el in elements]
    return [el for el, h in html if h.startswith('<table class="contents">')]


# --- the parser: one table per TOC, rows whole ----------------------------------------------


@pytest.mark.parametrize("glued", [False, True], ids=["leaders-apart", "leaders-glued"])
def test_toc_with_dot_leaders_is_one_contents_table(tmp_path: Path, glued: bool) -> None:
    path = write_pdf(tmp_path / "protocol.pdf", [cover(leader_toc(glued)), *body_pages()])
    elements = _elements(path)
    (toc,) = _contents(elements)
    assert toc.metadata.page_number == 1
    assert toc.text.splitlines() == [
        "1. Introduction | 2",
        "2. Study Design | 2",
        "3. Safety Monitoring | 3",
        "4. Statistical Analysis | 3",
    ]
    # the cover's own lines stay as they were
    assert "Clinical Study Protocol HCV-301" in [el.text for el in elements]


def test_toc_with_aligned_page_numbers_and_no_leaders(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "protocol.pdf", [cover(aligned_toc()), *body_pages()])
    (toc,) = _contents(_elements(path))
    lines = toc.text.splitlines()
    assert lines[:2] == ["Table of Contents", " | Page"]
    assert "Item 1. Introduction | 2" in lines
    assert (
        "Item 2. Study Design and the randomisation of patients between the two "
        "arms of the trial | 2"
    ) in lines
    assert "PART II. OVERSIGHT | " in lines
    assert lines[-1] == "Item 4. Statistical Analysis | 3"


def test_toc_whose_entries_are_links_without_page_numbers(tmp_path: Path) -> None:
    titles = list(BODY)
    puts: list[Put] = [(240, 670, "Contents", 12)]
    links: list[Link] = []
    for k, title in enumerate(titles):
        y = 640 - 16 * k
        puts.append((72, y, title, 10))
        links.append(((70, y - 3, 72 + _width(title, 10) + 2, y + 10), 1 + k // 2))
    path = write_pdf(tmp_path / "linked.pdf", [cover(puts), *body_pages()], [links])
    (toc,) = _contents(_elements(path))
    assert toc.text.splitlines() == ["Contents", *(f"{t} | " for t in titles)]


def schedule_page() -> list[Put]:
    """What looks like a TOC and is not: a one-value-column fee schedule, small whole
    numbers going up in an aligned column, and a list of years."""
    puts: list[Put] = [(72, 740, "Schedule B: Fees and Notice Periods", 14)]
    fees = [("Application fee", "1,250"), ("Annual licence fee", "2,500"), ("Audit fee", "900")]
    days = [("Notice of renewal", "5"), ("Cure period", "10"), ("Termination notice", "15")]
    days += [("Appeal window", "20"), ("Arbitration filing", "25")]
    years = [("Founded", "1976"), ("Incorporated", "1977"), ("First public offering", "1980")]
    y = 710
    for group in (fees, days, years):
        for label, value in group:
            puts += [(72, y, label, 10), right(540, y, value)]
            y -= 14
        y -= 20
    return puts


def test_a_schedule_with_one_value_column_is_not_a_toc(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "contract.pdf", [schedule_page(), *body_pages()])
    elements = _elements(path)
    assert _contents(elements) == []
    doc = parse(path)
    _, removed = strip_page_furniture(doc)
    assert removed[CONTENTS_PAGE] == 0
    chunks = chunk_elements(strip_page_furniture(doc)[0].elements)
    text = "\n".join(c.text for c in chunks)
    for value in ("1,250", "Cure period", "Arbitration filing", "1977"):
        assert value in text


def test_an_exhibit_index_of_links_at_the_end_stays(tmp_path: Path) -> None:
    """Links to the document's own pages alone, late in it, are not a TOC."""
    rows = [
        "31.1 Certification of the Chief Executive Officer under Rule 13a-14(a)",
        "31.2 Certification of the Chief Financial Officer under Rule 13a-14(a)",
        "32.1 Certification of the Chief Executive Officer under Section 1350",
        "32.2 Certification of the Chief Financial Officer under Section 1350",
        "101 Inline XBRL Instance Document",
    ]
    puts: list[Put] = [(72, 740, "Exhibits", 14), *prose(710, *rows)]
    links: list[Link] = [((70, 707 - 14 * k, 400, 720 - 14 * k), 0) for k in range(len(rows))]
    pages = [*body_pages(), *body_pages(), puts]
    path = write_pdf(tmp_path / "filing.pdf", pages, [[], [], [], [], links])
    elements = _elements(path)
    assert _contents(elements) == []
    assert any(rows[2] in el.text for el in elements)


# --- entries and runs, without PDFs ----------------------------------------------------------


def _line(y: float, *cells: tuple[float, str]) -> Line:
    """A line of 10-point words at height ``y``; each cell's words start at its x."""
    words: list[Word] = []
    for start, text in cells:
        x = start
        for part in text.split():
            words.append(Word(part, x, y, x + _width(part, 10), y + 10, 10))
            x += _width(part, 10) + 3
    return Line(tuple(words))


@pytest.mark.parametrize(
    ("cells", "label", "page"),
    [
        (((72, "Risk Factors"), (530, "14")), "Risk Factors", "14"),
        (((72, "Introduction"), (140, "........"), (530, "iv")), "Introduction", "iv"),
        (((72, "Appendix Tables......A-3"),), None, None),  # not a number it reads
        (((72, "Notes due 2029"),), None, None),  # a number inside the title
        (((72, "Revenue"), (530, "1,234")), None, None),  # an amount
        (((72, "2023"), (530, "12")), None, None),  # no title
    ],
)
def test_entries(cells: tuple[tuple[float, str], ...], label: str | None, page: str | None) -> None:
    found = entry(_line(100, *cells))
    if label is None:
        assert found is None
    else:
        assert found is not None
        assert (found.label, found.page) == (label, page)


def test_page_numbers_that_go_down_or_leave_the_document_are_no_toc() -> None:
    heading = _line(80, (250, "Contents"))

    def run(*pages: str) -> list[Line]:
        return [heading] + [
            _line(100 + 14 * k, (72, f"Section {chr(65 + k)} overview"), (530, p))
            for k, p in enumerate(pages)
        ]

    hints = ContentsHints(pages=40)
    assert find_contents(run("3", "7", "12", "19"), hints=hints)
    assert not find_contents(run("19", "3", "12", "7"), hints=hints)
    assert not find_contents(run("3", "7", "12", "190"), hints=hints)
    # the same rows under no heading, without leaders or links: a schedule
    assert not find_contents(run("3", "7", "12", "19")[1:], hints=hints)


# --- cleaning: TOCs out of the index, counted ---------------------------------------------------


def test_toc_is_dropped_before_chunking_and_counted(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "protocol.pdf", [cover(aligned_toc()), *body_pages()])
    doc = parse(path)
    stripped, removed = strip_page_furniture(doc)
    assert removed[CONTENTS_PAGE] == 1
    chunks = chunk_elements(stripped.elements)
    cleaned = clean_chunks(chunks, doc_id="protocol")
    texts = [c.text for c in cleaned.chunks]
    joined = "\n".join(texts)
    for toc_text in ("Table of Contents", "PART II. OVERSIGHT", "arms of the trial", "| Page"):
        assert toc_text not in joined
    assert "Item 1. Introduction" not in joined
    # the cover and every section survive, in their own words
    assert "Clinical Study Protocol HCV-301" in joined
    for heading, text in BODY.items():
        assert heading in joined
        assert text in joined


def _el(text: str, page: int = 2, kind: str = "NarrativeText") -> ParsedElement:
    return ParsedElement(kind, text, page)


def test_contents_of_other_parsers_are_recognised_from_their_text() -> None:
    """DOCX or unstructured output: a TOC as one element per entry, or glued into one."""
    per_entry = [
        _el("Annual Report 2023", 1, "Title"),
        _el("Contents", 2, "Title"),
        _el("Chair's letter\t3"),
        _el("Strategy and markets 7"),
        _el("OUR PEOPLE", 2, "Title"),
        _el("Health and safety 12"),
        _el("Financial statements 19"),
        _el("The year brought record orders and a new plant in Leeds.", 3),
    ]
    assert contents_elements(per_entry, 30) == {1, 2, 3, 4, 5, 6}
    glued = [
        _el("Introduction ........ 3 Methods ........ 5 Results ........ 9 Discussion .... 14")
    ]
    assert contents_elements(glued, 20) == {0}
    leaders = [_el(f"{name} . . . . . . . {p}") for name, p in (("Scope", 1), ("Terms", 2))]
    assert contents_elements([*leaders, _el("Payment ....... 4")], 10) == {0, 1, 2}


def test_lookalikes_of_contents_stay() -> None:
    no_heading = [_el("Renewal notice 5"), _el("Cure period 10"), _el("Appeal window 15")]
    years = [_el("Contents", 2, "Title"), _el("Founded 1976"), _el("Listed 1980")]
    years.append(_el("Acquired 1999"))
    amounts = [_el("Index", 2, "Title"), _el("Revenue 1,234"), _el("Costs 2,100")]
    amounts.append(_el("Profit 3,000"))
    going_down = [_el("Contents", 2, "Title"), _el("Ch. one 9"), _el("Ch. two 5")]
    going_down.append(_el("Ch. three 2"))
    for elements in (no_heading, years, amounts, going_down):
        assert contents_elements(elements, 30) == set(), elements


def test_a_contents_link_at_the_top_of_pages_is_still_a_link() -> None:
    """The repeated "Table of Contents" link stays counted as a link, not a TOC."""
    elements = [_el("Table of Contents", p, "Title") for p in (1, 2, 3)]
    elements += [_el(f"{BODY['Introduction']} Page {p}.", p) for p in (1, 2, 3)]
    doc = ParsedDocument("x.pdf", "pdf", "", "pdf", elements, 1, "0" * 64, page_count=3)
    _, removed = strip_page_furniture(doc)
    assert removed[CONTENTS_LINK] == 3
    assert removed[CONTENTS_PAGE] == 0


# --- a table continued past a page footer ----------------------------------------------------


def statement_rows(top: float, rows: Sequence[tuple[str, str, str]]) -> list[Put]:
    puts: list[Put] = []
    for k, (label, a, b) in enumerate(rows):
        y = top - 14 * k
        puts += [(72, y, label, 9), right(380, y, a, 9), right(480, y, b, 9)]
    return puts


ROWS = [
    ("Products", "60,584", "63,355"),
    ("Services", "21,213", "19,604"),
    ("Total net sales", "81,797", "82,959"),
    ("Cost of sales", "44,899", "46,387"),
    ("Gross margin", "36,413", "36,413"),
    ("Research and development", "7,442", "6,797"),
    ("Operating income", "23,000", "23,076"),
    ("Net income", "19,881", "19,442"),
]


@pytest.mark.parametrize("furniture", ["footer", "footer-and-running-header"])
def test_table_continued_past_a_page_footer_keeps_its_header(
    tmp_path: Path, furniture: str
) -> None:
    first: list[Put] = [
        (72, 740, "Condensed Consolidated Statements of Operations", 12),
        (72, 715, "(In millions)", 9),
        right(380, 700, "2023", 9),
        right(480, 700, "2022", 9),
        *statement_rows(684, ROWS[:4]),
        (72, 40, "Acme Inc. | Q3 2023 Form 10-Q | 12", 8),
    ]
    second: list[Put] = [*statement_rows(700, ROWS[4:]), (300, 40, "13", 8)]
    if furniture == "footer-and-running-header":
        second += [(72, 765, "Acme Inc.", 8), (72, 745, "Quarterly Report, Q3 2023", 7)]
    path = write_pdf(tmp_path / "split.pdf", [first, second])
    elements = _elements(path)
    tables = [el for el in elements if el.category == "Table"]
    assert [t.metadata.page_number for t in tables] == [1, 2]
    html = tables[1].metadata.text_as_html
    assert "<thead><tr><th></th><th>2023</th><th>2022</th></tr></thead>" in html
    assert "Operating income | 23,000 | 23,076" in tables[1].text.splitlines()
    # the footers are still there for cleaning to drop
    assert any(el.text == "Acme Inc. | Q3 2023 Form 10-Q | 12" for el in elements)


def test_a_table_followed_by_prose_does_not_lend_its_header(tmp_path: Path) -> None:
    first: list[Put] = [
        right(380, 700, "2023", 9),
        right(480, 700, "2022", 9),
        *statement_rows(684, ROWS[:4]),
        *prose(600, "Net sales rose on the strength of services revenue across regions."),
    ]
    second: list[Put] = [*statement_rows(700, ROWS[4:])]
    elements = _elements(write_pdf(tmp_path / "two.pdf", [first, second]))
    tables = [el for el in elements if el.category == "Table"]
    assert [t.metadata.page_number for t in tables] == [1, 2]
    assert "<th>" not in tables[-1].metadata.text_as_html
