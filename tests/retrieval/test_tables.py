"""Table passages: read back from a chunk's rows, written for the model as compact markdown."""

from __future__ import annotations

import pytest
from answer_testkit import make_chunk

from ingest import TableGrid
from retrieval.context import pack_context, parse_blocks
from retrieval.tables import compact_table, read_table, render_table

# As ingest writes it: a heading, the units in every header cell, an empty column.
NVDA = """Revenue by Reportable Segments
 | Three Months Ended Oct 29, 2023 ($ in millions) |  | Three Months Ended Oct 30, 2022 \
($ in millions) |
Compute & Networking | $14,645 |  | $3,816 |
Graphics | 3,475 |  | 2,088 |
Total | $18,120 |  | $5,931 |"""

Q3 = "Three Months Ended"
AAPL = """Note 2 – Revenue
Net sales disaggregated by significant products and services (in millions):
 | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022
Products:
iPhone | $39,669 | $40,665
Services | 21,213 | 19,604"""


def test_units_are_said_once_and_empty_columns_are_left_out() -> None:
    assert compact_table(NVDA) == "\n".join(
        [
            "Revenue by Reportable Segments",
            "($ in millions)",
            " | Three Months Ended Oct 29, 2023 | Three Months Ended Oct 30, 2022",
            "-|-|-",
            "Compute & Networking | $14,645 | $3,816",
            "Graphics | 3,475 | 2,088",
            "Total | $18,120 | $5,931",
        ]
    )


def test_a_caption_that_states_the_units_is_enough() -> None:
    table = read_table(AAPL)
    assert table is not None
    assert table.units == "in millions"
    assert table.scale == 1e6
    assert table.header == [
        "",
        "Three Months Ended July 1, 2023",
        "Three Months Ended June 25, 2022",
    ]
    assert table.rows[0] == ["Products:"]  # a row heading stays a line of its own
    assert "(in millions)" not in compact_table(AAPL).splitlines()[2:]


def test_the_compact_form_reads_back_the_same() -> None:
    once = compact_table(NVDA)
    first, again = read_table(NVDA), read_table(once)
    assert first is not None
    assert again is not None
    assert again.units == first.units == "in millions"
    assert again.rows == [[c for c in r if c] for r in first.rows]
    assert compact_table(once) == once


def test_header_rows_merge_column_by_column() -> None:
    text = f" | {Q3} | {Q3}\n | July 1, 2023 | June 25, 2022\nMac | 6,840 | 7,382"
    table = read_table(text)
    assert table is not None
    assert table.header == [
        "",
        "Three Months Ended July 1, 2023",
        "Three Months Ended June 25, 2022",
    ]
    assert table.rows == [["Mac", "6,840", "7,382"]]


def test_a_table_without_a_header_row_has_only_body_rows() -> None:
    text = "Gross margin | 4,638 | 35.8%\nResearch and development | 4,080 | 31.5%"
    table = read_table(text)
    assert table is not None
    assert table.header == []
    assert len(table.rows) == 2
    assert render_table(table) == text


@pytest.mark.parametrize("text", ["Net sales rose 8% to $81,797 million.", "a | b", ""])
def test_text_that_is_not_a_table_is_left_as_it_is(text: str) -> None:
    assert read_table(text) is None
    assert compact_table(text) == text.strip()


def test_a_table_from_ingest_grid_goes_to_the_model_compact() -> None:
    grid = TableGrid(
        "(In millions)",
        [["", "Jul 1, 2023 (In millions)", "", "Dec 31, 2022 (In millions)"]],
        [["Inventories", "$11,984", "", "$13,224"], ["Total assets", "191,767", "", "182,103"]],
    )
    chunk = make_chunk(0, "\n".join(grid.lines(["Balance Sheets"])), table=True)
    body = parse_blocks(pack_context([chunk], 10_000, len).text)[0][1]
    assert body.splitlines() == [
        "Balance Sheets",
        "(In millions)",
        " | Jul 1, 2023 | Dec 31, 2022",
        "-|-|-",
        "Inventories | $11,984 | $13,224",
        "Total assets | 191,767 | 182,103",
    ]
