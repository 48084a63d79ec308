"""Choosing an answer's context: re-scoring the candidates, the passage budget, the candidates."""

from __future__ import annotations

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import LLMSettings, Principal, Settings
from retrieval.answer import Answerer
from retrieval.rerank import names_a_row, rescore_for_answer
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
    assert ids(out) == ["c1", "c0", "c2"]
    assert [c.score for c in out] == [OPEX.score, PROSE.score, SEGMENTS.score]  # untouched


def test_rescoring_keeps_the_retrieval_order_when_no_table_names_a_row() -> None:
    ranked = [SEGMENTS, PROSE, OPEX, NO_AMOUNTS]
    assert ids(rescore_for_answer("Why did margins change?", ranked)) == ids(ranked)


def test_a_named_table_rises_only_so_far_a_far_lower_rank_stays_behind() -> None:
    # 2/(10+r) beats 1/(10+p) only for r < 10 + 2p: rank 25 stays behind rank 0.
    prose = [make_chunk(i, f"Expense commentary number {i}.") for i in range(25)]
    table = make_chunk(99, OPEX.text, table=True)
    out = rescore_for_answer("research and development expense", [*prose, table])
    assert out.index(table) == 8  # 2/(10+25) = 1/17.5: after ranks 0..7, before rank 8
    assert len(out) == 26


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
    assert [c.chunk_id for c in result.context] == ["c1", "c0", "c2"]
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
    assert [c.chunk_id for c in packed.citations] == ["c1", "c0", "c2"]


def test_neighbour_expanded_passages_are_packed_as_they_come() -> None:
    answerer = Answerer(FakeSearcher(), ScriptedLLM([]), Settings())
    packed = answerer.select_context(
        "What was research and development expense?", [PROSE, SEGMENTS, OPEX], neighbours=True
    )
    assert [c.chunk_id for c in packed.citations] == ["c0", "c2", "c1"]
