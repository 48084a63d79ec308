"""Answers: retrieval through the searcher, the budget, cited answers, no-answer, streaming."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk, small_llm

from core import ConfigError, Principal, Settings
from retrieval.answer import Answerer, unsupported_numbers, used_citations
from retrieval.context import pack_context
from retrieval.llm import LLM, NO_ANSWER
from retrieval.llm.extractive import ExtractiveLLM
from retrieval.llm.local import LocalLLM
from retrieval.llm.prompts import StreamedExample, drop_example, loop_start
from retrieval.types import RetrievedChunk

__all__ = ["small_llm"]

ALICE = Principal(user="alice", groups=("finance",))
CHUNKS = [
    make_chunk(0, "Total net sales were $81,797 million in the third quarter of 2023.", doc="aapl"),
    make_chunk(1, "iPhone net sales were $39,669 million, down from $40,665 million.", doc="aapl"),
    make_chunk(2, "Intel revenue was $14.2 billion in the third quarter.", doc="intc"),
]


def answerer(llm: LLM, chunks: Sequence[RetrievedChunk] = CHUNKS) -> Answerer:
    return Answerer(FakeSearcher(chunks), llm, Settings())


def test_answer_cites_only_valid_context_labels() -> None:
    llm = ScriptedLLM(["Net sales were $81,797 million [1]. iPhone fell [2][9]. Also [2, 1]."])
    result = answerer(llm).answer("What were Apple's net sales?", ALICE)
    assert result.answer == "Net sales were $81,797 million [1]. iPhone fell [2][9]. Also [2, 1]."
    assert [c.n for c in result.citations] == [1, 2]
    assert [c.chunk_id for c in result.citations] == ["c0", "c1"]
    assert [c.n for c in result.context] == [1, 2, 3]
    assert not result.no_answer
    uuid.UUID(result.answer_id)
    assert result.query == result.question == "What were Apple's net sales?"


def test_the_prompt_holds_the_rules_the_context_and_the_question() -> None:
    llm = ScriptedLLM(["ok [1]"])
    answerer(llm).answer("What were Apple's net sales?", ALICE)
    system, user = llm.prompts[0]
    assert system.role == "system"
    assert NO_ANSWER in system.content
    assert "[1]" in system.content
    assert "only" in system.content
    assert user.content.startswith("Context:\n[1] Quarterly report (aapl.pdf)")
    assert "Question: What were Apple's net sales?" in user.content


def test_the_searcher_gets_the_principal_filters_and_limit() -> None:
    searcher = FakeSearcher(CHUNKS)
    flt = object()
    Answerer(searcher, ScriptedLLM(["x"]), Settings(), retrieve_limit=2).answer(
        "q?", ALICE, filters=flt
    )
    assert searcher.calls == [("q?", ALICE, flt, 2)]


def test_nothing_retrieved_means_no_answer_without_calling_the_llm() -> None:
    llm = ScriptedLLM([])  # any call would fail: no reply scripted
    result = answerer(llm, chunks=[]).answer("Anything?", ALICE)
    assert result.answer == NO_ANSWER
    assert result.no_answer
    assert (result.citations, result.context) == ([], [])
    assert result.completion_tokens == 0
    assert llm.prompts == []


def test_the_models_no_answer_is_flagged_and_cites_nothing() -> None:
    result = answerer(ScriptedLLM([NO_ANSWER])).answer("Who is the CEO of Nvidia?", ALICE)
    assert result.no_answer
    assert result.citations == []
    assert len(result.context) == 3


def test_the_prompt_fits_the_window_with_room_for_the_reply() -> None:
    many = [make_chunk(i, f"Fact number {i} is {i * 1234} dollars. " * 8) for i in range(40)]
    llm = ScriptedLLM(["ok"], context_window=900)
    ans = answerer(llm, chunks=many)
    result = ans.answer("Which facts?", ALICE)
    assert 0 < len(result.context) < 40
    assert llm.count_messages(llm.prompts[0]) + ans.max_tokens <= llm.context_window
    assert result.context_tokens <= ans.context_budget("Which facts?")


def test_a_window_too_small_for_any_context_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="context_window"):
        answerer(ScriptedLLM(["x"], context_window=200)).answer("q?", ALICE)


def test_streaming_yields_tokens_then_the_result() -> None:
    searcher = FakeSearcher(CHUNKS)
    ans = Answerer(searcher, ScriptedLLM(["Sales were $81,797 million [1]."]), Settings())
    stream = ans.answer("Apple net sales?", ALICE, stream=True)
    assert len(searcher.calls) == 1  # retrieval ran before the first event was read
    events = list(stream)
    assert events[0]["type"] == "sources"
    tokens = [e["text"] for e in events[1:-1]]
    assert all(e["type"] == "token" for e in events[1:-1])
    done = events[-1]
    assert done["type"] == "done"
    assert "".join(tokens).strip() == done["answer"] == "Sales were $81,797 million [1]."
    assert [c["n"] for c in done["citations"]] == [1]
    assert done["citations"][0]["source_uri"] == "file:///docs/aapl.pdf"
    assert set(done["timings"]) >= {"retrieve_ms", "pack_ms", "generate_ms", "ttft_ms"}
    assert done["tokens_per_s"] is not None


def test_streaming_with_nothing_retrieved_still_ends_with_done() -> None:
    events = list(answerer(ScriptedLLM([]), chunks=[]).answer("q?", ALICE, stream=True))
    assert [e["type"] for e in events] == ["sources", "token", "done"]
    assert events[-1]["answer"] == NO_ANSWER


def test_extractive_answers_are_cited_sentences_of_the_context() -> None:
    result = answerer(ExtractiveLLM(max_sentences=1)).answer("iPhone net sales?", ALICE)
    assert result.answer == "iPhone net sales were $39,669 million, down from $40,665 million. [2]"
    assert [c.chunk_id for c in result.citations] == ["c1"]
    nothing = answerer(ExtractiveLLM()).answer("Who painted the Mona Lisa?", ALICE)
    assert nothing.no_answer
    assert nothing.citations == []


def test_used_citations_keeps_first_use_order() -> None:
    context = pack_context(CHUNKS, 10_000, len).citations
    assert [c.n for c in used_citations("b [3] a [1] [3] [0] [4]", context)] == [3, 1]


def test_a_real_model_answers_with_timings(small_llm: LocalLLM) -> None:
    result = answerer(small_llm).answer("What were Apple's total net sales?", ALICE)
    assert result.answer
    assert result.prompt_tokens > 100  # the context went in
    assert 0 < result.completion_tokens <= 25
    timings = result.timings
    assert timings["ttft_ms"] is not None
    assert timings["generate_ms"] is not None
    assert 0 < timings["ttft_ms"] <= timings["generate_ms"]
    assert result.model["model"] == "smollm2-135m-instruct"
    assert {c.n for c in result.citations} <= {1, 2, 3}


@pytest.mark.parametrize(
    ("answer", "unsupported"),
    [
        ("Net sales were $81,797 million [1].", []),
        ("iPhone fell to $39,669 million from $40,665 million [2].", []),
        ("Revenue was $5 million [2].", ["$5 million"]),  # the prompt's example, copied
        ("Net sales were $82,959 million [1].", ["$82,959 million"]),
        ("The rate was 21% [1][3].", ["21%"]),
        ("There were 3 segments in Q3 [1].", []),  # bare one-digit numbers are not figures
    ],
)
def test_figures_missing_from_the_context_are_flagged(answer: str, unsupported: list[str]) -> None:
    context = pack_context(CHUNKS, 10_000, len).text
    assert unsupported_numbers(answer, context) == unsupported


def test_the_result_carries_unsupported_figures() -> None:
    result = answerer(ScriptedLLM(["Revenue was $6 million [2]."])).answer("Revenue?", ALICE)
    assert result.unsupported_numbers == ["$6 million"]
    assert result.to_dict()["unsupported_numbers"] == ["$6 million"]


@pytest.mark.parametrize(
    "reply", ["Revenue was $5 million [2].", "  revenue was $5 million [1][3]"]
)
def test_an_answer_that_only_repeats_the_prompts_example_is_no_answer(reply: str) -> None:
    result = answerer(ScriptedLLM([reply])).answer("What was the dividend?", ALICE)
    assert result.answer == NO_ANSWER
    assert result.no_answer
    assert result.citations == []
    assert result.note is not None
    assert "example" in result.note


def test_an_answer_that_uses_the_examples_words_among_others_is_kept() -> None:
    reply = "Revenue was $5 million [2], to $21,213 million [1]."
    result = answerer(ScriptedLLM([reply])).answer("How did net sales change?", ALICE)
    assert result.answer.startswith(reply)  # (then a note on the figure the stand-in made up)
    assert not result.no_answer


COPIED_EXAMPLE = [
    # (the model's reply, what the reader is shown)
    ("Revenue was $5 million [2]. Services were $21,213 million [1].", "Services"),
    ("Revenue was $5 million [2]. [3] Services were $21,213 million.", "Services"),
    ("revenue was $5 million. Services were $21,213 million [1].", "Services"),
    ("Revenue was $5 million [2], up from $4 million [1].", "Revenue was"),
    ("Revenue was $5 million, driven by Services [1].", "Revenue was"),
    ("Revenue was $51,334 million [1].", "Revenue was $51,334"),
    ("Net income was $19,881 million [1].", "Net income"),
]


@pytest.mark.parametrize(("reply", "starts"), COPIED_EXAMPLE)
def test_a_leading_copy_of_the_example_is_dropped_from_the_answer(reply: str, starts: str) -> None:
    assert drop_example(reply).startswith(starts)
    result = answerer(ScriptedLLM([reply])).answer("How did net sales change?", ALICE)
    assert result.answer.startswith(starts)


@pytest.mark.parametrize(("reply", "starts"), COPIED_EXAMPLE)
def test_a_copied_example_never_streams(reply: str, starts: str) -> None:
    stream = answerer(ScriptedLLM([reply])).answer("How did net sales change?", ALICE, stream=True)
    events = list(stream)
    shown = "".join(e["text"] for e in events if e["type"] == "token")
    assert shown.lstrip().startswith(starts)
    # Fed one character at a time, the filter shows what drop_example leaves.
    example = StreamedExample()
    pieces = [example.feed(c) for c in reply]
    assert "".join(pieces) + example.flush() == drop_example(reply)


def test_an_answer_that_only_repeats_the_example_streams_the_no_answer_sentence() -> None:
    stream = answerer(ScriptedLLM(["Revenue was $5 million [2]."])).answer(
        "What was the dividend?", ALICE, stream=True
    )
    events = list(stream)
    shown = "".join(e["text"] for e in events if e["type"] == "token")
    assert shown == NO_ANSWER
    assert events[-1]["answer"] == NO_ANSWER


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Revenue was $7,192 [2]" + " [1] [3]" * 6, "Revenue was $7,192 [2] [1] [3]"),
        ("Net sales " + "grew and " * 8, "Net sales grew and"),
        # the copies begin mid-marker: the cut goes back to the space before it
        ("Revenue was $7,192 [2] [3] [1" + "] [3] [1" * 7, "Revenue was $7,192 [2] [3]"),
        ("Revenue was $7,192 [2] [1] [3] [1] [3]", None),  # two copies: not yet a loop
        ("Sales: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.", None),
        ("Q1 | Q2\n" + "-|-" * 12, None),  # layout repeats: no letter or digit
        ("", None),
    ],
)
def test_a_reply_that_repeats_itself_is_cut_after_the_first_copy(
    text: str, kept: str | None
) -> None:
    cut = loop_start(text)
    assert (text[:cut] if cut is not None else None) == kept


def test_a_looping_answer_stops_the_model_and_keeps_what_came_before() -> None:
    reply = "Sales were $81,797 million [1]" + " [2] [1]" * 200
    llm = ScriptedLLM([reply])
    stream = answerer(llm).answer("Apple net sales?", ALICE, stream=True)
    events = list(stream)
    streamed = "".join(e["text"] for e in events if e["type"] == "token")
    done = events[-1]
    # one copy of the repeated piece stays, wherever the tokens ended when it was caught
    assert done["answer"] in {
        "Sales were $81,797 million [1] [2]",
        "Sales were $81,797 million [1] [2] [1]",
    }
    assert "repeating itself" in done["note"]
    assert done["finish_reason"] == "stop"
    assert len(streamed) < 80  # generation stopped within a few copies, not after 200
