"""Arithmetic by code: derived figures computed from cited values, with the working shown."""

from __future__ import annotations

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk
from hypothesis import given
from hypothesis import strategies as st

from core import Principal, Settings
from retrieval.answer import Answerer
from retrieval.arithmetic import (
    CalculationError,
    StreamedCalculations,
    evaluate,
    find_calculations,
)
from retrieval.context import pack_context
from retrieval.figures import check_answer
from retrieval.llm.prompts import answer_messages, calculation_kind, split_answer_prompt

REVENUE = """Net sales by category (in millions)
 | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022
iPhone | $39,669 | $40,665
Mac | 6,840 | 7,382
Services | 21,213 | 19,604
Total net sales | $81,797 | $82,959"""
CONTEXT = pack_context([make_chunk(0, REVENUE, table=True)], 10_000, len).text


def test_a_growth_rate_is_computed_from_cited_values_with_the_working() -> None:
    result = check_answer(
        "Services net sales grew <<(21,213 - 19,604) / 19,604 * 100>>% from the three months "
        "ended June 25, 2022 to the three months ended July 1, 2023 [1].",
        CONTEXT,
    )
    assert result.text.startswith(
        "Services net sales grew 8.2% (computed: (21,213 − 19,604) / 19,604 × 100) from"
    )
    [growth] = result.figures
    assert growth.status == "computed"
    assert growth.text == "8.2%"
    assert growth.value == pytest.approx(8.2075, abs=1e-4)
    assert growth.working == "(21,213 − 19,604) / 19,604 × 100 = 8.2%"
    assert [(o.text, o.status, o.row, o.column) for o in growth.operands] == [
        ("21,213", "verified", "Services", "Three Months Ended July 1, 2023"),
        ("19,604", "verified", "Services", "Three Months Ended June 25, 2022"),
        ("19,604", "verified", "Services", "Three Months Ended June 25, 2022"),
    ]
    # Each operand's place is in the working, where the reader sees it.
    assert [growth.working[o.start : o.end] for o in growth.operands] == [
        "21,213",
        "19,604",
        "19,604",
    ]
    assert [o.start for o in growth.operands] == [1, 10, 20]
    assert result.note is None


def test_a_ratio_is_computed_from_cited_values() -> None:
    result = check_answer(
        "Services were <<21,213 / 81,797 * 100>>% of total net sales in the quarter [1].", CONTEXT
    )
    [share] = result.figures
    assert share.status == "computed"
    assert share.text == "25.9%"
    assert share.working == "21,213 / 81,797 × 100 = 25.9%"
    assert {o.row for o in share.operands} == {"Services", "Total net sales"}
    plain = evaluate("21,213 / 19,604")
    assert (plain.kind, plain.result) == ("ratio", "1.08")


def test_a_sum_keeps_the_units_and_the_working() -> None:
    result = check_answer("iPhone and Mac made $<<39,669 + 6,840>> million [1].", CONTEXT)
    assert result.text == "iPhone and Mac made $46,509 million (computed: 39,669 + 6,840) [1]."
    [total] = result.figures
    assert total.status == "computed"
    assert total.text == "46,509 million"
    assert total.value == pytest.approx(46_509e6)  # the cells' units, from the table caption
    assert total.working == "39,669 + 6,840 = 46,509"
    assert evaluate("$1.6 billion - $500 million").result == "$1.10 billion"


def test_a_calculation_over_a_number_not_in_the_context_is_flagged() -> None:
    result = check_answer("Services grew <<(21,213 - 18,000) / 18,000 * 100>>% [1].", CONTEXT)
    [growth] = result.figures
    assert growth.status == "unsupported_operand"
    assert [o.status for o in growth.operands] == ["verified", "not_found", "not_found"]
    assert result.unsupported == ["18,000"]
    assert result.note == (
        "Note: 17.8% is computed from 18,000, which the passages do not give for what is stated."
    )


def test_the_models_own_result_is_replaced_by_the_computed_one() -> None:
    result = check_answer("Growth was <<(21,213 - 19,604) / 19,604 * 100>> = 9.1% [1].", CONTEXT)
    assert "9.1" not in result.text
    assert result.text.startswith("Growth was 8.2% (computed:")


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "2 ** 64",
        "abs(-3)",
        "revenue - cost",
        "1 / (3 - 3)",
        "",
        "1; 2",
    ],
)
def test_only_plain_arithmetic_over_numbers_is_evaluated(expression: str) -> None:
    with pytest.raises(CalculationError):
        evaluate(expression)


def test_an_expression_that_cannot_be_computed_is_shown_and_flagged() -> None:
    result = check_answer("Margin was <<gross / 2>> [1].", CONTEXT)
    assert result.text.startswith("Margin was gross / 2 [1].")
    assert [f.status for f in result.figures] == ["uncomputable"]
    assert [(f.start, f.end) for f in find_calculations("a <<1 + 2>> b <<3 * 4>>")] == [
        (2, 11),
        (14, 23),
    ]


def test_unicode_operators_and_signs() -> None:
    calc = evaluate("(21,213 − 19,604) ÷ 19,604 × 100")
    assert calc.result == "8.2%"
    assert calc.working == "(21,213 − 19,604) / 19,604 × 100 = 8.2%"
    assert evaluate("-(7,382 - 6,840)").result == "-542"


STREAMED = (
    "Services grew <<(21,213 - 19,604) / 19,604 * 100>>% = 8.5% [1]. iPhone and Mac: "
    "$<<39,669 + 6,840>> million [1]. Not one: a << b, <<x>> and a last <"
)


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=60))
def test_a_streamed_answer_shows_the_calculations_as_the_result_will(cuts: list[int]) -> None:
    """However the tokens fall, the streamed text is the final answer's (less its note)."""
    calculations = StreamedCalculations()
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(calculations.feed(STREAMED[at : at + cut]))
        at += cut
    pieces.append(calculations.feed(STREAMED[at:]))
    pieces.append(calculations.flush())
    assert "".join(pieces) == check_answer(STREAMED, CONTEXT).text


def test_the_answer_stream_lets_out_computed_figures() -> None:
    reply = "Services grew <<(21,213 - 19,604) / 19,604 * 100>>% [1]."
    chunks = [make_chunk(0, REVENUE, table=True)]
    answerer = Answerer(FakeSearcher(chunks), ScriptedLLM([reply]), Settings())
    stream = answerer.answer("Services growth?", Principal(user="alice"), stream=True)
    text = "".join(e["text"] for e in stream if e["type"] == "token")
    assert "<<" not in text
    assert text == "Services grew 8.2% (computed: (21,213 − 19,604) / 19,604 × 100) [1]."
    assert stream.result is not None
    assert stream.result.answer == text
    assert [f.status for f in stream.result.figures] == ["computed"]


@pytest.mark.parametrize(
    ("question", "kind", "example"),
    [
        ("By what percentage did Services net sales grow from Q3 2022 to Q3 2023?", "growth", "-"),
        ("What proportion of NVIDIA's revenue came from its data center?", "share", "/"),
        ("What percentage of Apple's revenue did Services contribute?", "share", "/"),
        ("What was the combined revenue of Data Center and Gaming?", "sum", "+"),
        ("How much did Intel's revenue change from Q3 2022 to Q3 2023?", "difference", "-"),
        ("What was Apple's ratio of current assets to current liabilities?", "ratio", "/"),
        ("What were Apple's Services net sales in Q3 2023?", None, ""),
        ("Did Apple report any share repurchase activities?", None, ""),
        ("How did exchange rate changes affect NVIDIA's results?", None, ""),
        ("What changes in accounting policies did Intel report?", None, ""),
    ],
)
def test_a_derived_figure_question_asks_for_the_calculation(
    question: str, kind: str | None, example: str
) -> None:
    assert calculation_kind(question) == kind
    user = answer_messages(question, "[1] Passage")[1].content
    assert ("between << and >>" in user) is (kind is not None)
    if kind is not None:  # an example of the same shape: a share divides, a sum adds
        assert example in user.rpartition("<<")[2].partition(">>")[0]
    assert split_answer_prompt(user) == ("[1] Passage", question)


@pytest.mark.parametrize(
    ("question", "answer", "line"),
    [
        (
            "What share of total net sales came from iPhone in the quarter?",
            "iPhone net sales were $39,669 million and total net sales $81,797 million [1]. "
            "So iPhone was about 48% of the total.",
            "Computed from the figures above: 48.5% (computed: 39,669 / 81,797 × 100).",
        ),
        (
            "By what percentage did Services net sales grow?",
            "Services net sales were $21,213 million in the three months ended July 1, 2023 "
            "and $19,604 million in the three months ended June 25, 2022 [1].",
            "Computed from the figures above: 8.2% (computed: (21,213 − 19,604) / 19,604 × 100).",
        ),
        (
            "What were iPhone and Mac net sales combined in the quarter?",
            "iPhone was $39,669 million and Mac $6,840 million [1].",
            "Computed from the figures above: 46,509 (computed: 39,669 + 6,840).",
        ),
    ],
)
def test_a_derived_figure_the_model_did_not_calculate_is_computed_from_its_cells(
    question: str, answer: str, line: str
) -> None:
    result = check_answer(answer, CONTEXT, question=question)
    assert result.text.split("\n\n")[1] == line
    derived = [f for f in result.figures if f.working is not None]
    assert [f.status for f in derived] == ["computed"]
    assert result.text[derived[0].start : derived[0].end] == derived[0].text


def test_nothing_is_derived_when_the_answer_calculates_or_the_question_asks_for_a_figure() -> None:
    calculated = check_answer(
        "Services grew <<(21,213 - 19,604) / 19,604 * 100>>% [1].",
        CONTEXT,
        question="By what percentage did Services net sales grow?",
    )
    assert "Computed from" not in calculated.text
    stated = check_answer(
        "iPhone was $39,669 million and Mac $6,840 million [1].",
        CONTEXT,
        question="What were iPhone and Mac net sales in the quarter?",
    )
    assert stated.text == "iPhone was $39,669 million and Mac $6,840 million [1]."


def test_a_calculation_over_another_rows_figure_is_flagged() -> None:
    """Mac's net sales are in the passage, but not as Services': the share is not trusted."""
    result = check_answer(
        "Services were <<6,840 / 81,797 * 100>>% of total net sales [1].", CONTEXT
    )
    [share] = result.figures
    assert share.status == "unsupported_operand"
    assert [(o.status, o.row) for o in share.operands] == [
        ("wrong_label", "Mac"),
        ("verified", "Total net sales"),
    ]
