"""The layout-true PDF parser (ingest.pdf_layout): words, reading order and tables.

The PDFs are written here with pikepdf, each string placed where a real document would
put it (right-aligned figures, "$" apart from its value, ruling lines, two columns, a
landscape page), so the tests exercise PDFium's text layer as real filings do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name

from core import IngestError
from ingest.chunking import chunk_elements
from ingest.parsing import parse
from ingest.pdf_layout import partition_pdf_layout
from ingest.pdf_tables import Line, Word, build_table, find_tables, is_numeric
from ingest.pdf_text import words_from_chars

#: A string on a page: (x, y, text, font size) in PDF points, origin bottom left.
Put = tuple[float, float, str, float]

_WIDTHS = {",": 0.278, ".": 0.278, "(": 0.333, ")": 0.333, " ": 0.278, "$": 0.556}


def _width(text: str, size: float) -> float:
    """Helvetica advance width of figures and punctuation (letters as an average)."""
    return sum(_WIDTHS.get(ch, 0.556) for ch in text) * size


def right(x: float, y: float, text: str, size: float = 9) -> Put:
    """``text`` right-aligned at ``x``, as figures are in financial statements."""
    return (x - _width(text, size), y, text, size)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pages(
    path: Path,
    pages: Sequence[Sequence[Put]],
    *,
    rules: Sequence[Sequence[tuple[float, float, float, float]]] = (),
    turn: bool = False,
    size: tuple[float, float] = (612, 792),
) -> Path:
    """A PDF whose pages carry the given strings (and ruling lines x0, y0, x1, y1).

    ``turn`` draws every string rotated by 90° on a landscape-content page marked
    ``/Rotate 90``, the way filings print wide tables on portrait paper.
    """
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type1,
            BaseFont=Name.Helvetica,
            Encoding=Name.WinAnsiEncoding,
        )
    )
    for n, puts in enumerate(pages):
        ops = []
        for x0, y0, x1, y1 in rules[n] if n < len(rules) else ():
            ops.append(f"0.5 w {x0:g} {y0:g} m {x1:g} {y1:g} l S")
        for x, y, text, pt in puts:
            # turned: content x runs up the page, (x, y) → (W - y, x)
            tm = f"0 1 -1 0 {size[0] - y:g} {x:g}" if turn else f"1 0 0 1 {x:g} {y:g}"
            ops.append(f"BT /F1 {pt:g} Tf {tm} Tm ({_escape(text)}) Tj ET")
        page = Dictionary(
            Type=Name.Page,
            MediaBox=Array([0, 0, *size]),
            Contents=pdf.make_stream("\n".join(ops).encode("cp1252")),
            Resources=Dictionary(Font=Dictionary(F1=font)),
        )
        if turn:
            page.Rotate = 90
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


def statement(top: float = 700, rows: int | None = None, header: bool = True) -> list[Put]:
    """An income statement: periods over two right-aligned columns, "$" apart from the
    figures of the first row, a negative in parentheses, a row heading without figures."""
    body = [
        ("Net sales:", None, None),
        ("Products", "60,584", "63,355"),
        ("Services", "21,213", "19,604"),
        ("Total net sales", "81,797", "82,959"),
        ("Other income/(expense), net", "(265)", "(10)"),
        ("Net income", "19,881", "19,442"),
    ][: rows or None]
    puts: list[Put] = []
    y = top
    if header:
        puts += [(72, y + 30, "(In millions)", 9), (330, y + 30, "Three Months Ended", 9)]
        puts += [right(380, y + 15, "July 1, 2023"), right(480, y + 15, "June 25, 2022")]
    for label, a, b in body:
        puts.append((72, y, label, 9))
        if a and b:
            if label == "Products":
                puts += [(300, y, "$", 9), (400, y, "$", 9)]
            puts += [right(380, y, a), right(480, y, b)]
        y -= 14
    return puts


def _elements(path: Path) -> list[Any]:
    return partition_pdf_layout(path.read_bytes(), filename=path.name)


def _tables(elements: Sequence[Any]) -> list[Any]:
    return [el for el in elements if el.category == "Table"]


# --- pure functions ------------------------------------------------------------------------


def test_words_split_at_a_gap_the_pdf_drew_without_a_space() -> None:
    """ "UNITED STATESSECURITIES": no space character, but a gap on the page."""
    chars = []
    x = 10.0
    for word in ("STATES", "SECURITIES"):
        for ch in word:
            chars.append((ch, x, 100.0, x + 6.0, 112.0))
            x += 6.0
        x += 4.0  # a word space drawn as a jump
    words = words_from_chars(chars)
    assert [w.text for w in words] == ["STATES", "SECURITIES"]


def test_words_keep_letters_that_touch_together_and_break_at_new_lines() -> None:
    chars = [(ch, 10.0 + 6 * i, 100.0, 16.0 + 6 * i, 112.0) for i, ch in enumerate("Net")]
    chars += [("\r", 0, 0, 0, 0), ("\n", 0, 0, 0, 0)]
    chars += [(ch, 10.0 + 6 * i, 120.0, 16.0 + 6 * i, 132.0) for i, ch in enumerate("sales")]
    assert [w.text for w in words_from_chars(chars)] == ["Net", "sales"]


@pytest.mark.parametrize(
    ("text", "numeric"),
    [("21,213", True), ("$60,584", True), ("(265)", True), ("12.5%", True), ("—", True)],
)
def test_values_are_numeric(text: str, numeric: bool) -> None:
    assert is_numeric(text) is numeric


@pytest.mark.parametrize("text", ["Services", "Note 3", "July 1,"])
def test_labels_are_not_numeric(text: str) -> None:
    assert not is_numeric(text)


def _line(y: float, *cells: tuple[float, str]) -> Line:
    return Line(tuple(Word(t, x, y, x + 5.5 * len(t), y + 10, 10) for x, t in cells))


def test_rows_with_values_in_two_columns_form_one_table_and_prose_does_not() -> None:
    lines = [
        _line(0, (10, "Revenue grew by 12 percent in 2023 and 8 percent in 2022.")),
        _line(30, (300, "2023"), (400, "2022")),
        _line(44, (10, "Revenue"), (300, "$"), (320, "1,000"), (420, "900")),
        _line(58, (10, "Costs"), (320, "(400)"), (420, "(350)")),
        _line(90, (10, "The table shows two years.")),
    ]
    spans = find_tables(lines)
    assert [(s.start, s.body, s.end) for s in spans] == [(1, 2, 4)]
    table = build_table(lines[1:4], body_start=1)
    assert table.header == ("", "2023", "2022")
    assert table.rows == (("Revenue", "$1,000", "900"), ("Costs", "(400)", "(350)"))


def test_period_headers_span_their_share_of_the_columns() -> None:
    """ "Three Months Ended" set right-aligned over the second of its two years."""
    lines = [
        _line(0, (335, "Three Months Ended"), (535, "Six Months Ended")),
        _line(14, (300, "2023"), (400, "2022"), (500, "2023"), (600, "2022")),
        _line(28, (10, "Revenue"), (300, "1,000"), (400, "900"), (500, "2,000"), (600, "1,800")),
        _line(42, (10, "Costs"), (300, "(400)"), (400, "(350)"), (500, "(800)"), (600, "(700)")),
    ]
    table = build_table(lines, body_start=2)
    assert table.header == (
        "",
        "Three Months Ended 2023",
        "Three Months Ended 2022",
        "Six Months Ended 2023",
        "Six Months Ended 2022",
    )


def test_a_period_written_as_the_row_label_heads_every_column() -> None:
    lines = [
        _line(0, (10, "(In millions)")),
        _line(14, (10, "Three Months Ended September 30,"), (300, "2023"), (400, "2022")),
        _line(28, (10, "Revenue"), (300, "1,000"), (400, "900")),
        _line(42, (10, "Costs"), (300, "(400)"), (400, "(350)")),
    ]
    table = build_table(lines, body_start=2)
    assert table.caption == ("(In millions)",)
    assert table.header == (
        "",
        "Three Months Ended September 30, 2023",
        "Three Months Ended September 30, 2022",
    )


# --- generated PDFs --------------------------------------------------------------------------


def test_unruled_table_is_one_element_with_whole_rows(tmp_path: Path) -> None:
    path = write_pages(tmp_path / "unruled.pdf", [statement()])
    tables = _tables(_elements(path))
    assert len(tables) == 1
    text = tables[0].text.splitlines()
    assert "Services | 21,213 | 19,604" in text
    assert "Products | $60,584 | $63,355" in text  # "$" merged into its value
    assert "Other income/(expense), net | (265) | (10)" in text
    html = tables[0].metadata.text_as_html
    assert "<th>Three Months Ended July 1, 2023</th>" in html
    assert "<caption>(In millions)</caption>" in html
    assert tables[0].metadata.page_number == 1


def test_ruled_table_is_found_with_its_rules(tmp_path: Path) -> None:
    rules = [[(70, 715, 490, 715), (70, 683, 490, 683), (290, 630, 490, 630), (70, 600, 490, 600)]]
    path = write_pages(tmp_path / "ruled.pdf", [statement()], rules=rules)
    (table,) = _tables(_elements(path))
    assert "Total net sales | 81,797 | 82,959" in table.text.splitlines()
    assert "<td>Net income</td><td>19,881</td><td>19,442</td>" in table.metadata.text_as_html


def test_two_column_page_reads_column_by_column(tmp_path: Path) -> None:
    left = [f"Left column sentence number {i} goes on." for i in range(1, 9)]
    right_col = [f"Right column sentence number {i} goes on." for i in range(1, 9)]
    puts: list[Put] = [(72, 740, "A Two Column Report", 16)]
    puts += [(72, 700 - 14 * i, t, 10) for i, t in enumerate(left)]
    puts += [(320, 700 - 14 * i, t, 10) for i, t in enumerate(right_col)]
    elements = _elements(write_pages(tmp_path / "columns.pdf", [puts]))
    text = "\n".join(el.text for el in elements)
    assert elements[0].category == "Title"
    assert elements[0].text == "A Two Column Report"
    assert text.index("Left column sentence number 8") < text.index(
        "Right column sentence number 1"
    )
    assert "number 1 goes on. Left column" in text  # a column's lines join into one paragraph


def test_rotated_page_reads_its_table(tmp_path: Path) -> None:
    """A wide table printed sideways (text rotated 90°, page /Rotate 90)."""
    path = write_pages(tmp_path / "rotated.pdf", [statement(top=500)], turn=True)
    (table,) = _tables(_elements(path))
    assert "Services | 21,213 | 19,604" in table.text.splitlines()


def test_table_split_across_two_pages_keeps_rows_and_header(tmp_path: Path) -> None:
    first = statement(rows=4)
    second = [p for p in statement(top=740 + 14 * 4, header=False) if p[1] <= 740]
    path = write_pages(tmp_path / "split.pdf", [first, second])
    tables = _tables(_elements(path))
    assert [t.metadata.page_number for t in tables] == [1, 2]
    assert "Services | 21,213 | 19,604" in tables[0].text.splitlines()
    assert "Other income/(expense), net | (265) | (10)" in tables[1].text.splitlines()
    assert "<th>Three Months Ended June 25, 2022</th>" in tables[1].metadata.text_as_html


def test_headings_and_list_items_are_typed(tmp_path: Path) -> None:
    puts: list[Put] = [
        (72, 740, "Risk Factors", 16),
        (72, 710, "Our business depends on demand for storage in many regions.", 10),
        (72, 680, "• Supply chains may be disrupted.", 10),
        (72, 666, "• Prices may fall.", 10),
    ]
    elements = _elements(write_pages(tmp_path / "typed.pdf", [puts]))
    assert [el.category for el in elements] == ["Title", "NarrativeText", "ListItem", "ListItem"]


# --- the real filing ---------------------------------------------------------------------------


def test_apple_income_statement_services_row_is_whole(sec_dir: Path) -> None:
    data = (sec_dir / "docs" / "2023 Q3 AAPL.pdf").read_bytes()
    elements = partition_pdf_layout(data, filename="2023 Q3 AAPL.pdf")
    page4 = [el for el in _tables(elements) if el.metadata.page_number == 4]
    assert page4, "no table on the income statement page"
    rows = page4[0].text.splitlines()
    assert "Services | 21,213 | 19,604 | 62,886 | 58,941" in rows
    assert "Three Months Ended July 1, 2023" in page4[0].metadata.text_as_html


# --- wiring --------------------------------------------------------------------------------------


def test_parse_routes_text_pdfs_to_the_layout_parser_by_default(tmp_path: Path) -> None:
    path = write_pages(tmp_path / "statement.pdf", [statement()])
    doc = parse(path)
    assert doc.strategy == "pdfium"
    (table,) = [el for el in doc.elements if el.type == "Table"]
    assert table.text_as_html is not None
    assert "<th>" in table.text_as_html
    chunks = chunk_elements(doc.elements)
    assert any("Services | 21,213 | 19,604" in c.text.splitlines() for c in chunks)
    assert parse(path, pdf_parser="unstructured").strategy == "fast"  # still selectable


def test_parse_with_the_layout_parser_still_refuses_a_pdf_without_text(tmp_path: Path) -> None:
    path = write_pages(tmp_path / "blank.pdf", [[]])
    with pytest.raises(IngestError, match="no text layer"):
        parse(path, pdf_parser="pdfium", strategy="fast")
