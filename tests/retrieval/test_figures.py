"""Every figure checked: value to the stated precision, units, row label, column period."""

from __future__ import annotations

import pytest
from answer_testkit import make_chunk

from retrieval.context import pack_context
from retrieval.figure_parsing import parse_figures
from retrieval.figures import FigureCheck, check_answer

# Apple's 2023 Q3 10-Q, as ingest writes the table chunk (header row, units in the caption).
REVENUE = """Note 2 – Revenue
Net sales disaggregated by significant products and services (in millions):
 | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 | \
Nine Months Ended July 1, 2023 | Nine Months Ended June 25, 2022
iPhone | $39,669 | $40,665 | $156,778 | $162,863
Mac | 6,840 | 7,382 | 21,743 | 28,669
Services | 21,213 | 19,604 | 62,886 | 58,941
Total net sales | $81,797 | $82,959 | $281,340 | $304,182"""
# Units only in the header cells, a negative in parentheses, percentages.
CHARGES = """Restructuring and Other Charges
 | Three Months Ended Jul 1, 2023 (In Millions) | Six Months Ended Jul 1, 2023 (In Millions)
Employee severance and benefit arrangements | $171 | $132
Litigation charges and other | 20 | (1,203)
Gross margin percentage | 35.8% | 35.1%"""
PROSE = "Intel revenue was $12.9 billion in the third quarter, down 8% year over year."
# Microsoft's fiscal year 2024 began in July 2023: its Q1 FY24 column is dated 2023.
MSFT = """Segment revenue (In millions)
 | Three Months Ended September 30, 2023 | Three Months Ended September 30, 2022
Intelligent Cloud | $24,259 | $20,325"""

CONTEXT = pack_context(
    [
        make_chunk(0, REVENUE, table=True),
        make_chunk(1, CHARGES, table=True),
        make_chunk(2, PROSE),
        make_chunk(3, MSFT, table=True),
    ],
    10_000,
    len,
).text


def check(answer: str, question: str = "") -> FigureCheck:
    result = check_answer(answer, CONTEXT, question=question)
    assert len(result.figures) == 1, result.figures
    return result.figures[0]


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("Total net sales were $81,797 million [1].", 81_797e6),
        ("Total net sales were $81.8 billion [1].", 81.8e9),
        ("Total net sales were about $82 billion [1].", 82e9),
        ("Services net sales were 21,213 [1].", 21_213e6),  # a bare figure takes the cell's units
        ("Services net sales were $21.2 billion [1].", 21.2e9),
    ],
)
def test_a_figure_matches_to_the_precision_it_is_stated(answer: str, value: float) -> None:
    figure = check(answer, "What were Apple's net sales in the three months ended July 1, 2023?")
    assert figure.status == "verified"
    assert figure.value == pytest.approx(value)
    assert figure.source == 1
    assert figure.column == "Three Months Ended July 1, 2023"


def test_rounding_1_6_billion_matches_1577_in_a_table_in_millions() -> None:
    table = "Operating expenses (in millions)\n | 2023 | 2022\nMarketing | 1,577 | 1,402"
    context = pack_context([make_chunk(0, table, table=True)], 10_000, len).text
    for answer in ("Marketing was $1.6 billion in 2023 [1].", "Marketing was $1,577 million [1]."):
        figure = check_answer(answer, context).figures[0]
        assert figure.status == "verified", answer
        assert figure.row == "Marketing"
        assert figure.column == "2023"
    # Wrongly rounded, and more precise than a passage that rounds:
    assert check_answer("Marketing was $1.5 billion [1].", context).figures[0].status == (
        "not_found"
    )
    rounded = pack_context([make_chunk(0, "Marketing was $1.6 billion.")], 10_000, len).text
    assert check_answer("It was $1,577 million [1].", rounded).figures[0].status == "not_found"


@pytest.mark.parametrize(
    ("answer", "column"),
    [
        # The nine-month figure stated for the quarter.
        (
            "Services net sales were $62,886 million in the three months ended July 1, 2023 [1].",
            "Nine Months Ended July 1, 2023",
        ),
        # The year-ago quarter stated for this quarter.
        (
            "In the third quarter of 2023, services net sales were $19,604 million [1].",
            "Three Months Ended June 25, 2022",
        ),
    ],
)
def test_the_right_figure_from_the_wrong_period_is_flagged(answer: str, column: str) -> None:
    figure = check(answer)
    assert figure.status == "wrong_period"
    assert figure.row == "Services"
    assert figure.column == column


def test_the_question_gives_the_period_when_the_sentence_names_none() -> None:
    question = "What were Apple's services net sales in the three months ended July 1, 2023?"
    assert check("Services net sales were $21,213 million [1].", question).status == "verified"
    assert check("Services net sales were $62,886 million [1].", question).status == (
        "wrong_period"
    )


def test_a_figure_of_another_row_is_flagged() -> None:
    figure = check("Mac net sales were $21,213 million in the quarter ended July 1, 2023 [1].")
    assert figure.status == "wrong_label"
    assert figure.row == "Services"


def test_synonyms_and_generic_labels_are_not_flagged() -> None:
    # "revenue" for "net sales"; the label's "Total" says nothing.
    assert check("Apple's revenue was $81,797 million [1].").status == "verified"


@pytest.mark.parametrize(
    "answer",
    [
        "Total net sales were $81,797 billion [1].",  # millions stated as billions
        "The gross margin percentage was 35.8 million [2].",  # a percentage as an amount
    ],
)
def test_the_same_digits_in_other_units_are_a_unit_mismatch(answer: str) -> None:
    figure = check(answer)
    assert figure.status == "unit_mismatch"
    assert figure.source is not None


def test_units_in_the_header_cells_and_negatives_in_parentheses() -> None:
    figure = check(
        "Litigation charges were $(1,203) million in the six months ended Jul 1, 2023 [2]."
    )
    assert figure.status == "verified"
    assert figure.value == pytest.approx(-1_203e6)
    assert check(
        "Litigation charges were a benefit of $1.2 billion in the six months [2]."
    ).status == ("verified")
    assert check("Gross margin percentage was 35.8% in the quarter [2].").status == "verified"


def test_a_fiscal_quarter_may_end_in_the_calendar_year_before() -> None:
    question = "What was Microsoft's Intelligent Cloud revenue in Q1 fiscal 2024?"
    assert check("It was $24,259 million in Q1 fiscal 2024 [4].", question).status == "verified"
    # A column of the named year exists: the year-ago one is the wrong period.
    assert check("Intelligent Cloud revenue was $20,325 million in 2023 [4].").status == (
        "wrong_period"
    )


def test_prose_figures_and_figures_found_nowhere() -> None:
    assert check("Intel revenue was $12.9 billion [3].").status == "verified"
    assert check("Revenue fell 8% [3].").status == "verified"
    missing = check_answer("Revenue was $5 million [2].", CONTEXT)
    assert [f.status for f in missing.figures] == ["not_found"]
    assert missing.unsupported == ["$5 million"]


def test_the_cited_passage_is_preferred_as_the_source() -> None:
    twice = pack_context(
        [make_chunk(0, "Backlog was $7,351 million."), make_chunk(1, "Orders: $7,351 million.")],
        10_000,
        len,
    ).text
    assert check_answer("Backlog was $7,351 million [2].", twice).figures[0].source == 2
    assert check_answer("Backlog was $7,351 million [1].", twice).figures[0].source == 1


def test_an_answer_whose_key_figure_is_not_in_its_context_says_so() -> None:
    result = check_answer("Revenue was $5 million [2]. Services were $21,213 million [1].", CONTEXT)
    assert result.note == "Note: $5 million is not in the passages given; it may be wrong."
    assert result.text.endswith(result.note)
    verified = check_answer("Services were $21,213 million [1].", CONTEXT)
    assert verified.note is None
    assert verified.text == "Services were $21,213 million [1]."


@pytest.mark.parametrize(
    ("text", "figures"),
    [
        ("In Q3 2023 (the 10-Q, Note 10, Item 2) [3] on July 1, 2023", []),
        ("Revenue of $5 million, 7% and 3 segments", ["$5 million", "7%"]),
        ("(1,124) and $(13) and -4.5 and 1.6B", ["(1,124)", "$(13)", "-4.5", "1.6B"]),
        ("$81,797 million [1] and 12.5 percent", ["$81,797 million", "12.5 percent"]),
        (
            "(39,669 / 81,797) × 100 = 48.5% and \\times 100 and * 100% and 100 units",
            ["39,669", "81,797", "48.5%", "100"],
        ),
    ],
)
def test_figures_are_parsed_without_years_dates_and_references(
    text: str, figures: list[str]
) -> None:
    assert [f.text for f in parse_figures(text)] == figures


def test_the_api_shape_of_a_figure() -> None:
    figure = check("Services net sales were 21,213 [1].", "In the three months ended July 1, 2023?")
    assert figure.to_dict() == {
        "text": "21,213",
        "start": 24,
        "end": 30,
        "value": 21213e6,
        "status": "verified",
        "source": 1,
        "row": "Services",
        "column": "Three Months Ended July 1, 2023",
    }


def test_a_row_heading_that_measures_something_else_is_a_wrong_label() -> None:
    """Apple's "Gross margin percentage:" heads a "Services" row: 70.5% is not a share of
    revenue. A heading that only groups rows ("Americas:") never conflicts."""
    table = (
        "Gross margin (in millions)\n | Three Months Ended July 1, 2023\n"
        "Gross margin:\nServices | $14,960\nGross margin percentage:\nServices | 70.5%\n"
        "Americas:\nNet sales | $35,383"
    )
    context = pack_context([make_chunk(0, table, table=True)], 10_000, len).text
    question = "What percentage of Apple's total revenue did the Services segment contribute?"
    share = check_answer(
        "Services contributed 70.5% of total revenue [1].", context, question=question
    )
    assert share.figures[0].status == "wrong_label"
    assert share.figures[0].row == "Gross margin percentage: Services"
    margin = check_answer("The Services gross margin percentage was 70.5% [1].", context)
    assert margin.figures[0].status == "verified"
    americas = check_answer("Net sales in the Americas were $35,383 million [1].", context)
    assert americas.figures[0].status == "verified"
    assert americas.figures[0].row == "Americas: Net sales"


def test_a_key_figure_of_another_measure_than_the_question_asks_is_a_wrong_label() -> None:
    """Seen with the 1.5B reader: Microsoft's gross margin question answered "Revenue was
    $56,517"; the issue's Intel R&D question answered with a revenue figure."""
    table = (
        "Income Statements (In millions)\n | Three Months Ended September 30, 2023\n"
        "Revenue | $56,517\nGross margin | 40,215\nResearch and development | 6,659"
    )
    context = pack_context([make_chunk(0, table, table=True)], 10_000, len).text
    revenue = check_answer(
        "Revenue was $56,517 million [1].", context, question="What was the gross margin?"
    )
    assert revenue.figures[0].status == "wrong_label"
    assert (
        revenue.note == "Note: $56,517 million is in passage [1] as “Revenue”, not what was asked."
    )
    rd = check_answer("It was $56,517 million [1].", context, question="What were R&D expenses?")
    assert rd.figures[0].status == "wrong_label"
    margin = check_answer(
        "Gross margin was $40,215 million [1].", context, question="What was the gross margin?"
    )
    assert margin.figures[0].status == "verified"
    # Only the key figure answers the question: a further figure may be of another measure.
    both = check_answer(
        "Gross margin was $40,215 million on revenue of $56,517 million [1].",
        context,
        question="What was the gross margin?",
    )
    assert [f.status for f in both.figures] == ["verified", "verified"]


def test_a_change_stated_as_something_else_is_a_wrong_label() -> None:
    """Seen with the 1.5B reader: Services' 8% growth given as its share of revenue."""
    table = (
        "Net sales by category (in millions)\n"
        " | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 | Change\n"
        "Services | $21,213 | $19,604 | 8 %\nTotal net sales | $81,797 | $82,959 | (1)%"
    )
    context = pack_context([make_chunk(0, table, table=True)], 10_000, len).text
    share = check_answer(
        "Services contributed 8% of total revenue [1].",
        context,
        question="What percentage of total revenue did Services contribute?",
    )
    assert share.figures[0].status == "wrong_label"
    assert share.figures[0].column == "Change"
    growth = check_answer("Services net sales grew 8% [1].", context)
    assert growth.figures[0].status == "verified"
