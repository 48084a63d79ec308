"""Choosing an answer's context: re-scoring the candidates, the passage budget, the candidates."""

from __future__ import annotations

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import LLMSettings, Principal, Settings
from retrieval.answer import Answerer
from retrieval.rerank import asks_for_amount, names_a_row, rescore_for_answer, states_an_amount
from retrieval.types import RetrievedChunk

ALICE = Principal(user="alice", tenant="default")

PROSE = make_chunk(
    0,
    "The growth in research and development expense was driven primarily by increases "
    "in headcount-related expenses.",
)
OPEX = make_chunk(
    1,
    "Operating Expenses\n"
    " | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022\n"
    "Research and development | $7,442 | $6,797\n"
    "Selling, general and administrative | $5,973 | $6,012",
    table=True,
)
SEGMENTS = make_chunk(
    2,
    "Segment Information\n | 2023 | 2022\nAmericas | $35,383 | $37,472\nEurope | 20,205 | 19,287",
    table=True,
)
NO_AMOUNTS = make_chunk(
    3,
    "Directors\n | Name | Role\n"
    "Research and development | Jane Doe | Chair\nAudit | John Roe | Member",
    table=True,
)


def ids(chunks: list[RetrievedChunk]) -> list[str]:
    return [c.id for c in chunks]


@pytest.mark.parametrize(
    ("question", "chunk", "named"),
    [
        ("How much did Apple spend on research and development?", OPEX, True),
        ("What were the company's administrative expenses?", OPEX, True),  # plural, singular
        ("How much did Apple spend on research and development?", PROSE, False),  # not a table
        ("How much did Apple spend on research and development?", SEGMENTS, False),
        ("Who chairs research and development?", NO_AMOUNTS, False),  # a row without amounts
        ("What were net sales in Europe?", SEGMENTS, True),
    ],
)
def test_a_table_names_a_row_when_a_row_label_shares_a_word_with_the_question(
    question: str, chunk: RetrievedChunk, named: bool
) -> None:
    assert names_a_row(question, chunk) is named


def test_the_table_row_the_question_names_comes_before_prose_ranked_above_it() -> None:
    ranked = [PROSE, SEGMENTS, OPEX]
    out = rescore_for_answer("What was Apple's research and development expense?", ranked)
    # the named table first (3/12); the prose states no amount, so it halves (0.5/10) and
    # falls behind the segment table (1/11)
    assert ids(out) == ["c1", "c2", "c0"]
    assert [c.score for c in out] == [OPEX.score, PROSE.score, SEGMENTS.score]  # untouched


def test_rescoring_keeps_the_retrieval_order_when_no_table_names_a_row() -> None:
    ranked = [SEGMENTS, PROSE, OPEX, NO_AMOUNTS]
    assert ids(rescore_for_answer("Why did the company reorganize?", ranked)) == ids(ranked)


def test_a_named_table_rises_only_so_far_a_far_lower_rank_stays_behind() -> None:
    # 3/(10+r) beats 1/(10+p) only for r < 20 + 3p: rank 35 stays behind ranks 0..5.
    prose = [make_chunk(i, f"Expense commentary number {i} was $1{i} million.") for i in range(35)]
    table = make_chunk(99, OPEX.text, table=True)
    out = rescore_for_answer("research and development expense", [*prose, table])
    assert out.index(table) == 6  # 3/45 = 1/15: after ranks 0..4 and rank 5 (a tie), before 6
    assert len(out) == 36


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("How much did NVIDIA allocate to research and development?", True),
        ("What was Microsoft's effective tax rate?", True),
        ("How many employees does the company have?", True),
        ("What was the scale of the share repurchases?", True),
        ("What legal proceedings were disclosed?", False),
        ("Who is the chief executive?", False),
    ],
)
def test_a_question_about_a_measure_is_told_from_one_about_something_else(
    question: str, asks: bool
) -> None:
    assert asks_for_amount(question) is asks


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("Revenue was $7.2 billion.", True),
        ("Gross margin was 64%.", True),
        ("We employ 26,196 people.", True),
        ("Private cars are reimbursed at 31 cents per kilometre.", True),
        ("Hot storage costs 2 cents per gigabyte.", True),
        ("Item 1A of the Form 10-Q filed in 2023.", False),  # numbers in words and a year
        ("COVID-19 slowed the supply chain.", False),
        ("We invest in research in markets where we have little presence.", False),
    ],
)
def test_an_amount_is_any_number_but_a_year_or_one_inside_a_word(text: str, states: bool) -> None:
    assert states_an_amount(text) is states


def test_for_a_question_about_a_measure_prose_without_an_amount_falls_behind() -> None:
    risk = make_chunk(
        0, "We have invested in research and development in markets that may not grow."
    )
    figures = make_chunk(1, "Research and development expenses were $1,875 million, up 16%.")
    other = make_chunk(2, "Gaming revenue was $2.24 billion, down 38% from a year ago.")
    ranked = [risk, figures, other]
    asked = "How much did NVIDIA allocate to research and development?"
    # 0.5/10 < 1/11 and 1/12: the risk factor, first by retrieval, comes last
    assert ids(rescore_for_answer(asked, ranked)) == ["c1", "c2", "c0"]
    # a question about something other than a measure keeps the retrieval order
    assert ids(rescore_for_answer("What risks does NVIDIA describe?", ranked)) == ids(ranked)


def settings(**llm: object) -> Settings:
    return Settings(llm=LLMSettings(**llm))  # type: ignore[arg-type]


def test_the_context_is_capped_by_llm_context_tokens() -> None:
    chunks = [
        make_chunk(i, f"Passage {i} says revenue was {i},000 dollars. " * 8) for i in range(20)
    ]
    llm = ScriptedLLM(["ok [1]"])
    window_only = Answerer(FakeSearcher(chunks), llm, settings(context_tokens=None))
    capped = Answerer(FakeSearcher(chunks), llm, settings(context_tokens=300))
    full = window_only.context_budget("Revenue?")
    assert full > 1000
    assert capped.context_budget("Revenue?") == 300
    packed = capped.select_context("Revenue?", chunks)
    assert 0 < packed.tokens <= 300
    assert len(packed.citations) < len(window_only.select_context("Revenue?", chunks).citations)


def test_a_small_window_caps_the_context_below_llm_context_tokens() -> None:
    llm = ScriptedLLM(["ok"], context_window=700)
    answerer = Answerer(FakeSearcher(), llm, settings(context_tokens=1200, max_tokens=128))
    assert answerer.context_budget("Revenue?") < 700 - 128


def test_the_answer_reads_the_rescored_context_and_asks_for_the_candidates() -> None:
    searcher = FakeSearcher([PROSE, SEGMENTS, OPEX])
    llm = ScriptedLLM(["R&D was $7,442 million [1]."])
    result = Answerer(searcher, llm, Settings()).answer(
        "What was Apple's research and development expense?", ALICE
    )
    assert searcher.calls[0][3] == Settings().llm.context_candidates == 20
    assert [c.chunk_id for c in result.context] == ["c1", "c2", "c0"]  # prose states no amount
    assert llm.prompts[0][1].content.startswith("Context:\n[1] Quarterly report (d1.pdf)")
    assert "Research and development | $7,442" in llm.prompts[0][1].content.split("[2]")[0]


def test_rescoring_off_packs_in_rank_order() -> None:
    searcher = FakeSearcher([PROSE, SEGMENTS, OPEX])
    result = Answerer(searcher, ScriptedLLM(["ok [1]"]), settings(context_rescore=False)).answer(
        "What was Apple's research and development expense?", ALICE
    )
    assert [c.chunk_id for c in result.context] == ["c0", "c2", "c1"]


def test_a_follow_up_is_rescored_by_its_standalone_query() -> None:
    answerer = Answerer(FakeSearcher(), ScriptedLLM([]), Settings())
    packed = answerer.select_context(
        "And the quarter before?",
        [PROSE, SEGMENTS, OPEX],
        query="Apple research and development expense in the quarter before",
    )
    assert [c.chunk_id for c in packed.citations] == ["c1", "c2", "c0"]


def test_neighbour_expanded_passages_are_packed_as_they_come() -> None:
    answerer = Answerer(FakeSearcher(), ScriptedLLM([]), Settings())
    packed = answerer.select_context(
        "What was research and development expense?", [PROSE, SEGMENTS, OPEX], neighbours=True
    )
    assert [c.chunk_id for c in packed.citations] == ["c0", "c2", "c1"]
