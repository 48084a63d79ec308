"""Tables drawn with ruling lines (ingest.pdf_rules, ingest.pdf_lattice, ingest.pdf_grids)
through the layout-true PDF parser: grids of text cells, wrapped cells, rectangles, rotated pages.

The PDFs are written here with pikepdf: strings in Helvetica (bold in Helvetica-Bold)
and rules drawn the ways generators draw them: stroked lines, stroked cell rectangles,
thin filled rectangles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name

from ingest.chunking import chunk_elements
from ingest.parsing import parse
from ingest.pdf_grids import grid_tables
from ingest.pdf_lattice import segments
from ingest.pdf_layout import partition_pdf_layout
from ingest.pdf_rules import Rule
from ingest.pdf_tables import Word

#: A cell's lines; a row's cells; a grid's rows.
Cell = str | Sequence[str]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text(x: float, y: float, s: str, size: float = 9, bold: bool = False) -> str:
    """A string at (x, y), PDF points from the bottom left."""
    font = "F2" if bold else "F1"
    return f"BT /{font} {size:g} Tf 1 0 0 1 {x:g} {y:g} Tm ({_escape(s)}) Tj ET"


def line(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"0.5 w {x0:g} {y0:g} m {x1:g} {y1:g} l S"


def write_pdf(path: Path, pages: Sequence[Sequence[str]], *, turn: bool = False) -> Path:
    """A PDF of the given content operators, a page each. ``turn`` draws each page turned
    by 90° (content x runs up the page) on a page marked ``/Rotate 90``."""
    pdf = pikepdf.new()
    fonts = Dictionary()
    for key, base in (("/F1", Name.Helvetica), ("/F2", Name("/Helvetica-Bold"))):
        fonts[key] = pdf.make_indirect(
            Dictionary(
                Type=Name.Font, Subtype=Name.Type1, BaseFont=base, Encoding=Name.WinAnsiEncoding
            )
        )
    for ops in pages:
        body = "\n".join(ops)
        if turn:
            body = f"q 0 1 -1 0 612 0 cm\n{body}\nQ"
        page = Dictionary(
            Type=Name.Page,
            MediaBox=Array([0, 0, 612, 792]),
            Contents=pdf.make_stream(body.encode("cp1252")),
            Resources=Dictionary(Font=fonts),
        )
        if turn:
            page.Rotate = 90
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def grid(
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    left: float = 72,
    top: float = 700,
    style: str = "lines",
    bold_header: bool = False,
    lead: float = 11,
) -> list[str]:
    """A ruled table: each cell's lines set from its top-left corner, every row as tall
    as its tallest cell. ``style``: "lines" (one stroked line per boundary), "stroked"
    (each cell a stroked rectangle, ``re S``), "filled" (each boundary a thin filled
    rectangle, ``re f``), "frame" (outer frame, column rules and a rule under the first
    row only: an unruled body); with no column rules: "rows" (a rule under the header and
    under each row), "booktabs" (rules above and under the header and under the table)."""
    ops: list[str] = []
    xs = [left]
    for w in widths:
        xs.append(xs[-1] + w)
    ys = [top]
    for r, row in enumerate(rows):
        cells = [[c] if isinstance(c, str) else list(c) for c in row]
        unruled = style in ("frame", "booktabs") and r > 0
        height = (lead if unruled else lead + 6) * max(len(c) for c in cells)
        for c, cell in enumerate(cells):
            for k, s in enumerate(cell):
                ops.append(text(xs[c] + 4, ys[-1] - 11 - lead * k, s, bold=bold_header and r == 0))
        if style == "stroked":
            ops += [
                f"0.5 w {xs[c]:g} {ys[-1] - height:g} {widths[c]:g} {height:g} re S"
                for c in range(len(widths))
            ]
        ys.append(ys[-1] - height)
    if style == "lines":
        ops += [line(xs[0], y, xs[-1], y) for y in ys]
        ops += [line(x, ys[0], x, ys[-1]) for x in xs]
    elif style == "filled":
        ops += [f"{xs[0]:g} {y - 0.3:g} {xs[-1] - xs[0]:g} 0.6 re f" for y in ys]
        ops += [f"{x - 0.3:g} {ys[-1]:g} 0.6 {ys[0] - ys[-1]:g} re f" for x in xs]
    elif style == "frame":
        ops += [line(xs[0], y, xs[-1], y) for y in (ys[0], ys[1], ys[-1])]
        ops += [line(x, ys[0], x, ys[-1]) for x in xs]
    elif style == "rows":
        ops += [line(xs[0], y, xs[-1], y) for y in ys[1:]]
    elif style == "booktabs":
        ops += [line(xs[0], y, xs[-1], y) for y in (ys[0], ys[1], ys[-1])]
    return ops


def _elements(path: Path) -> list[Any]:
    return partition_pdf_layout(path.read_bytes(), filename=path.name)


def _tables(elements: Sequence[Any]) -> list[Any]:
    return [el for el in elements if el.category == "Table"]


DOSES: list[list[Cell]] = [
    ["Drug", "Dose", "Frequency", "Notes"],
    [
        "Amoxicillin",
        "500 mg",
        "every 8 hours",
        ["Take with food; finish", "the whole course even", "if symptoms improve."],
    ],
    ["Ibuprofen", "200 mg", "every 6 hours", "Not on an empty stomach."],
    ["Metformin", "850 mg", "twice daily", "With meals."],
]
DOSE_WIDTHS = (100, 70, 90, 140)


# --- pure functions ------------------------------------------------------------------------


def _h(y: float, x0: float, x1: float) -> Rule:
    return Rule(x0, y, x1, y)


def _v(x: float, y0: float, y1: float) -> Rule:
    return Rule(x, y0, x, y1)


def _words(*puts: tuple[float, float, str]) -> list[Word]:
    """Words at (x, top) in reading coordinates, 10 points tall, 5 points a letter."""
    return [Word(t, x, y, x + 5 * len(t), y + 10, 10) for x, y, t in puts]


def test_collinear_pieces_and_double_lines_merge_into_one_segment() -> None:
    rules = [
        _h(100, 10, 60),
        _h(100.4, 61.5, 120),  # a joint drawn with a gap
        _h(102, 10, 120),  # the second line of a double rule
        _h(100, 200, 260),  # the same height, elsewhere
        Rule(10, 149.7, 120, 150.3),  # a thin filled bar
    ]
    found = segments(rules, horizontal=True)
    assert [(round(s.at), s.lo, s.hi) for s in found] == [
        (101, 10, 120),
        (101, 200, 260),
        (150, 10, 120),
    ]
    assert segments(rules, horizontal=False) == []


def test_cell_spanning_columns_heads_each_and_a_label_spanning_rows_starts_each() -> None:
    """Header "Form" spans two rows, "Dose" two columns ("Adult", "Child"); the body's
    "Tablets" spans two rows."""
    rules = [_h(0, 0, 300), _h(20, 100, 300), _h(40, 0, 300), _h(60, 100, 300), _h(80, 0, 300)]
    rules += [_v(0, 0, 80), _v(300, 0, 80), _v(100, 0, 80), _v(200, 20, 80)]
    words = _words(
        (4, 5, "Form"), (104, 5, "Dose"),
        (104, 25, "Adult"), (204, 25, "Child"),
        (4, 45, "Tablets"), (104, 45, "500 mg"), (204, 45, "250 mg"),
        (104, 65, "1 g"), (204, 65, "500 mg"),
    )  # fmt: skip
    (table,), rest = grid_tables(words, rules)
    assert rest == []
    assert table.header == ("Form", "Dose Adult", "Dose Child")
    assert table.rows == (("Tablets", "500 mg", "250 mg"), ("Tablets", "1 g", "500 mg"))
    assert table.edges == (0, 100, 200, 300)


def test_a_first_row_across_the_whole_grid_is_its_caption() -> None:
    rules = [_h(y, 0, 200) for y in (0, 20, 40, 60)] + [_v(0, 0, 60), _v(200, 0, 60)]
    rules.append(_v(100, 20, 60))
    words = _words(
        (4, 5, "Schedule"), (54, 5, "of"), (69, 5, "fees"),
        (4, 25, "Service"), (104, 25, "Fee"),
        (4, 45, "Filing"), (104, 45, "$250"),
    )  # fmt: skip
    (table,), _ = grid_tables(words, rules)
    assert table.caption == ("Schedule of fees",)
    assert table.text().splitlines() == ["Schedule of fees", "Service | Fee", "Filing | $250"]


def test_rules_around_the_figures_of_a_larger_table_are_not_a_grid() -> None:
    """Cells boxed around a statement's figures, the row labels left of the box: the
    numeric detector reads that table, so the grid must leave its words alone."""
    rules = [_h(y, 300, 500) for y in (0, 20, 40, 60)] + [_v(x, 0, 60) for x in (300, 400, 500)]
    words = _words(
        (10, 5, "Cash"), (350, 5, "36,220"), (450, 5, "34,947"),
        (10, 25, "Restricted cash"), (370, 25, "242"), (470, 25, "224"),
        (10, 45, "Total"), (350, 45, "36,477"), (450, 45, "35,178"),
    )  # fmt: skip
    tables, rest = grid_tables(words, rules)
    assert tables == []
    assert rest == words


# --- generated PDFs --------------------------------------------------------------------------


def test_ruled_grid_with_a_bold_header_and_a_wrapped_cell_is_one_table(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "doses.pdf", [grid(DOSES, DOSE_WIDTHS, bold_header=True)])
    elements = _elements(path)
    (table,) = _tables(elements)
    assert table.text.splitlines() == [
        "Drug | Dose | Frequency | Notes",
        "Amoxicillin | 500 mg | every 8 hours | Take with food; finish the whole course even "
        "if symptoms improve.",
        "Ibuprofen | 200 mg | every 6 hours | Not on an empty stomach.",
        "Metformin | 850 mg | twice daily | With meals.",
    ]
    html = table.metadata.text_as_html
    assert (
        "<thead><tr><th>Drug</th><th>Dose</th><th>Frequency</th><th>Notes</th></tr></thead>" in html
    )
    assert "<td>Metformin</td><td>850 mg</td>" in html
    assert [el.category for el in elements] == ["Table"]  # no word of the grid left as prose


FEES: list[list[Cell]] = [
    ["Service", "Fee", "When due"],
    ["Initial filing", "$250.00", "On submission"],
    ["Amendment", "$75.00", ["Within 30 days of", "the notice"]],
    ["Late payment", "1.5% a month", "Monthly"],
]


@pytest.mark.parametrize("style", ["stroked", "filled"])
def test_grid_of_rectangles_is_one_table(tmp_path: Path, style: str) -> None:
    """Cells drawn as stroked rectangles (``re S``) or borders as thin filled ones
    (``re f``); the header is not bold but holds no figure."""
    path = write_pdf(tmp_path / f"fees-{style}.pdf", [grid(FEES, (140, 90, 130), style=style)])
    (table,) = _tables(_elements(path))
    assert table.text.splitlines() == [
        "Service | Fee | When due",
        "Initial filing | $250.00 | On submission",
        "Amendment | $75.00 | Within 30 days of the notice",
        "Late payment | 1.5% a month | Monthly",
    ]
    assert "<th>When due</th>" in table.metadata.text_as_html


def test_prose_above_and_below_a_grid_stays_prose_in_order(tmp_path: Path) -> None:
    ops = [
        text(72, 740, "Dosage Guidance", size=16),
        text(72, 715, "Give the doses below unless the prescriber states otherwise.", size=10),
        *grid(DOSES, DOSE_WIDTHS, top=690, bold_header=True),
        text(72, 560, "Report any side effect to the pharmacist on duty the same day.", size=10),
    ]
    elements = _elements(write_pdf(tmp_path / "prose.pdf", [ops]))
    assert [el.category for el in elements] == ["Title", "NarrativeText", "Table", "NarrativeText"]
    assert elements[1].text == "Give the doses below unless the prescriber states otherwise."
    assert elements[3].text == "Report any side effect to the pharmacist on duty the same day."
    assert "Metformin | 850 mg | twice daily | With meals." in elements[2].text.splitlines()


def test_grid_on_a_rotated_page(tmp_path: Path) -> None:
    """A landscape table printed sideways: content turned 90°, page ``/Rotate 90``."""
    ops = [text(72, 560, "Project Timeline", size=14), *grid(TIMELINE, (90, 260, 90), top=540)]
    (table,) = _tables(_elements(write_pdf(tmp_path / "turned.pdf", [ops], turn=True)))
    assert table.text.splitlines() == [
        "Date | Event | Owner",
        "2024-01-15 | Kick-off meeting with the steering group | A. Moreau",
        "2024-03-01 | Design review of the storage layer and its failure modes | J. Okafor",
        "2024-06-30 | Release | A. Moreau",
    ]


TIMELINE: list[list[Cell]] = [
    ["Date", "Event", "Owner"],
    ["2024-01-15", "Kick-off meeting with the steering group", "A. Moreau"],
    ["2024-03-01", ["Design review of the storage layer", "and its failure modes"], "J. Okafor"],
    ["2024-06-30", "Release", "A. Moreau"],
]


def test_a_rule_under_a_heading_or_a_framed_note_is_not_a_table(tmp_path: Path) -> None:
    ops = [
        text(72, 740, "Terms of Payment", size=14, bold=True),
        line(72, 734, 540, 734),
        text(72, 715, "Invoices are due thirty days after receipt. Amounts", size=10),
        text(72, 703, "unpaid after that date bear interest at the legal rate.", size=10),
        text(72, 670, "Cancellation", size=14, bold=True),
        line(72, 664, 540, 664),
        text(72, 645, "Either party may cancel with 90 days notice in writing.", size=10),
        text(72, 625, "Governing Law", size=14, bold=True),
        line(72, 619, 540, 619),
        text(72, 600, "This agreement is governed by the laws of Ontario.", size=10),
        "0.5 w 66 500 480 60 re S",  # a framed note: one box, no rows or columns
        text(72, 540, "Note: prices exclude VAT.      Offer valid until 31 March.", size=10),
        text(72, 526, "Contact: billing desk         Phone: 555 0100", size=10),
    ]
    elements = _elements(write_pdf(tmp_path / "terms.pdf", [ops]))
    assert not _tables(elements)
    texts = [el.text for el in elements]
    assert texts[:3] == [
        "Terms of Payment",
        "Invoices are due thirty days after receipt. Amounts unpaid after that date bear "
        "interest at the legal rate.",
        "Cancellation",
    ]


@pytest.mark.parametrize(
    ("repeated", "first"),
    [
        (True, ["Warfarin", "5 mg", "once daily", "Check INR weekly."]),
        (False, ["Warfarin", "5 mg", "once daily", "Check INR weekly."]),
        (False, ["Heparin", "by weight", "as ordered", "Follow the ward protocol."]),
    ],
)
def test_grid_continued_on_a_second_page_keeps_its_header(
    tmp_path: Path, repeated: bool, first: list[Cell]
) -> None:
    """Page 2 repeats the header row, or starts with a body row (with a figure, or
    without one, which alone would look like a header) and takes page 1's."""
    more: list[list[Cell]] = [first, ["Digoxin", "125 mcg", "once daily", "Check the pulse first."]]
    second = [DOSES[0], *more] if repeated else more
    pages = [
        grid(DOSES, DOSE_WIDTHS, top=200, bold_header=True),
        grid(second, DOSE_WIDTHS, top=740, bold_header=repeated),
    ]
    tables = _tables(_elements(write_pdf(tmp_path / "split.pdf", pages)))
    assert [t.metadata.page_number for t in tables] == [1, 2]
    assert tables[1].text.splitlines() == [
        "Drug | Dose | Frequency | Notes",
        " | ".join(str(c) for c in first),
        "Digoxin | 125 mcg | once daily | Check the pulse first.",
    ]
    assert "<th>Frequency</th>" in tables[1].metadata.text_as_html


def test_framed_table_with_an_unruled_body_has_a_row_a_line(tmp_path: Path) -> None:
    """Outer frame, column rules and a rule under the header only; a label's second line
    (lower-case) stays on its row."""
    rows: list[list[Cell]] = [
        ["Party", "Role", "Address"],
        ["Northwind Traders Ltd", "Supplier", "12 Harbour Road, Leith"],
        [["Contoso Health", "services GmbH"], "Customer", "Hauptstrasse 5, Bonn"],
        ["Fabrikam Inc.", "Guarantor", "1 Main Street, Albany"],
    ]
    path = write_pdf(tmp_path / "parties.pdf", [grid(rows, (150, 90, 170), style="frame")])
    (table,) = _tables(_elements(path))
    assert table.text.splitlines() == [
        "Party | Role | Address",
        "Northwind Traders Ltd | Supplier | 12 Harbour Road, Leith",
        "Contoso Health services GmbH | Customer | Hauptstrasse 5, Bonn",
        "Fabrikam Inc. | Guarantor | 1 Main Street, Albany",
    ]


@pytest.mark.parametrize("style", ["rows", "booktabs"])
def test_table_ruled_with_horizontal_lines_only_takes_its_columns_from_the_gaps(
    tmp_path: Path, style: str
) -> None:
    """No column rules: a rule under the header and each row, or rules above and under
    the header and under the table (an unruled body, a wrapped cell in it)."""
    ops = [
        text(72, 740, "Milestones", size=14, bold=True),
        *grid(TIMELINE, (90, 260, 90), top=700, style=style),
        text(72, 560, "Dates may move by a week without notice to the board.", size=10),
    ]
    elements = _elements(write_pdf(tmp_path / f"timeline-{style}.pdf", [ops]))
    assert [el.category for el in elements] == ["Title", "Table", "NarrativeText"]
    assert elements[1].text.splitlines() == [
        "Date | Event | Owner",
        "2024-01-15 | Kick-off meeting with the steering group | A. Moreau",
        "2024-03-01 | Design review of the storage layer and its failure modes | J. Okafor",
        "2024-06-30 | Release | A. Moreau",
    ]
    assert "<th>Owner</th>" in elements[1].metadata.text_as_html


def test_grid_drawn_in_a_form_xobject_is_read_where_it_lands(tmp_path: Path) -> None:
    """Rules inside a form XObject (its own /Matrix) placed with ``cm``: both transforms
    apply, so the rules land around the text drawn on the page."""
    ops = grid(FEES, (140, 90, 130))
    texts = [op for op in ops if op.startswith("BT")]
    rules = [op for op in ops if not op.startswith("BT")]
    pdf = pikepdf.new()
    form = pdf.make_stream(
        "\n".join(rules).encode(),
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=Array([0, 0, 612, 792]),
        Matrix=Array([1, 0, 0, 1, 10, 0]),
    )
    font = Dictionary(
        Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica, Encoding=Name.WinAnsiEncoding
    )
    content = ["q 1 0 0 1 20 -30 cm", *texts, "Q", "q 1 0 0 1 10 -30 cm /G Do Q"]
    page = Dictionary(
        Type=Name.Page,
        MediaBox=Array([0, 0, 612, 792]),
        Contents=pdf.make_stream("\n".join(content).encode()),
        Resources=Dictionary(Font=Dictionary(F1=font), XObject=Dictionary(G=form)),
    )
    pdf.pages.append(pikepdf.Page(page))
    path = tmp_path / "form.pdf"
    pdf.save(path)
    elements = _elements(path)
    assert [el.category for el in elements] == ["Table"]
    assert elements[0].text.splitlines() == [
        "Service | Fee | When due",
        "Initial filing | $250.00 | On submission",
        "Amendment | $75.00 | Within 30 days of the notice",
        "Late payment | 1.5% a month | Monthly",
    ]


def test_graph_paper_is_not_a_table() -> None:
    """A page ruled like graph paper (a drawing): too many cells to be a table; its text
    stays text and the search stays cheap."""
    rules = [_h(y, 0, 600) for y in range(0, 601, 5)] + [_v(x, 0, 600) for x in range(0, 601, 5)]
    words = _words((12, 12, "Figure"), (72, 12, "3"), (12, 32, "Plan"), (72, 32, "view"))
    assert grid_tables(words, rules) == ([], words)


def test_grid_in_one_column_of_a_two_column_page(tmp_path: Path) -> None:
    """A grid in the left column, prose in the right one at its own line spacing: the
    grid is a table, the prose a paragraph after it, each word once."""
    prose = [f"Right column sentence number {i} goes on." for i in range(1, 13)]
    ops = [
        *grid(FEES, (90, 60, 100), top=700),
        *(text(320, 689 - 12 * i, t) for i, t in enumerate(prose)),  # first on a cell's line
    ]
    elements = _elements(write_pdf(tmp_path / "two-columns.pdf", [ops]))
    assert [el.category for el in elements] == ["Table", "NarrativeText"]
    assert elements[0].text.splitlines()[1] == "Initial filing | $250.00 | On submission"
    assert elements[1].text == " ".join(prose)


def test_framed_two_column_page_is_prose_not_a_table(tmp_path: Path) -> None:
    """A page border, a rule under the masthead and a rule between two columns of prose
    make a lattice of two columns, but only one row has cells of its own: no table."""
    left = [f"Left column sentence number {i} goes on." for i in range(1, 11)]
    right_col = [f"Right column sentence number {i} goes on." for i in range(1, 11)]
    ops = [
        "0.5 w 60 100 492 660 re S",
        line(60, 720, 552, 720),
        line(306, 100, 306, 720),
        text(72, 735, "Quarterly Newsletter", size=16),
        *(text(72, 700 - 14 * i, t, size=10) for i, t in enumerate(left)),
        *(text(318, 700 - 14 * i, t, size=10) for i, t in enumerate(right_col)),
    ]
    elements = _elements(write_pdf(tmp_path / "newsletter.pdf", [ops]))
    assert not _tables(elements)
    text_all = "\n".join(el.text for el in elements)
    assert text_all.index("Left column sentence number 10") < text_all.index(
        "Right column sentence number 1 "
    )


def test_a_grid_reaches_its_chunk_as_whole_rows(tmp_path: Path) -> None:
    """Through the ingest parser and the chunker: one Table element with HTML, and a
    chunk whose lines are the grid's rows, the wrapped cell whole."""
    ops = [text(72, 740, "Dosage Guidance", size=16), *grid(DOSES, DOSE_WIDTHS, top=720)]
    doc = parse(write_pdf(tmp_path / "doses.pdf", [ops]))
    (table,) = [el for el in doc.elements if el.type == "Table"]
    assert table.text_as_html is not None
    assert "<th>Frequency</th>" in table.text_as_html
    lines = [ln for c in chunk_elements(doc.elements) for ln in c.text.splitlines()]
    assert (
        "Amoxicillin | 500 mg | every 8 hours | Take with food; finish the whole course even "
        "if symptoms improve." in lines
    )
