"""Conversations: the history store, follow-up rewriting, and multi-turn answers."""

from __future__ import annotations

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import InvalidInputError, NotFoundError, Principal, Settings
from retrieval.answer import Answerer
from retrieval.conversation import (
    HeuristicRewriter,
    InMemoryConversationStore,
    LLMRewriter,
    Turn,
    key_terms,
    needs_context,
    rewriter_for,
)
from retrieval.llm.extractive import ExtractiveLLM

ALICE = Principal(user="alice")
BOB = Principal(user="bob")
ALICE_ELSEWHERE = Principal(user="alice", tenant="other")
FIRST = "How did Apple's iPhone net sales change in 2023?"


def turns(question: str, answer: str = "An answer [1].") -> list[Turn]:
    return [Turn("user", question, query=question), Turn("assistant", answer)]


# --- store ------------------------------------------------------------------------------


def test_history_round_trips_oldest_first() -> None:
    store = InMemoryConversationStore()
    assert store.history("c1", ALICE) == []
    store.append("c1", ALICE, turns("q1"))
    store.append("c1", ALICE, turns("q2"))
    assert [t.content for t in store.history("c1", ALICE)] == [
        "q1",
        "An answer [1].",
        "q2",
        "An answer [1].",
    ]


@pytest.mark.parametrize("intruder", [BOB, ALICE_ELSEWHERE])
def test_a_conversation_is_visible_to_its_owner_only(intruder: Principal) -> None:
    store = InMemoryConversationStore()
    store.append("c1", ALICE, turns("secret question"))
    with pytest.raises(NotFoundError):
        store.history("c1", intruder)
    with pytest.raises(NotFoundError):
        store.append("c1", intruder, turns("hijack"))
    with pytest.raises(NotFoundError):
        store.delete("c1", intruder)
    assert len(store.history("c1", ALICE)) == 2


def test_delete_forgets_and_a_second_delete_is_not_found() -> None:
    store = InMemoryConversationStore()
    store.append("c1", ALICE, turns("q"))
    store.delete("c1", ALICE)
    assert store.history("c1", ALICE) == []
    with pytest.raises(NotFoundError):
        store.delete("c1", ALICE)


def test_old_turns_and_old_conversations_are_dropped() -> None:
    store = InMemoryConversationStore(max_turns=4, max_conversations=2)
    for i in range(3):
        store.append("c1", ALICE, turns(f"q{i}"))
    assert [t.content for t in store.history("c1", ALICE) if t.role == "user"] == ["q1", "q2"]
    store.append("c2", ALICE, turns("x"))
    store.history("c1", ALICE)  # c1 is now the most recently used
    store.append("c3", ALICE, turns("y"))
    assert store.history("c2", ALICE) == []  # evicted
    assert store.history("c1", ALICE) != []


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "../etc"])
def test_conversation_ids_are_checked(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        InMemoryConversationStore().history(bad, ALICE)


# --- rewriting --------------------------------------------------------------------------


def test_key_terms_keep_topic_words_in_order() -> None:
    assert key_terms(FIRST) == ["Apple's", "iPhone", "net", "sales", "2023"]


@pytest.mark.parametrize(
    ("question", "leans_back"),
    [
        ("What about Services?", True),
        ("And how did it compare with the prior quarter?", True),
        ("What was Intel's gross margin in Q3 2023?", False),
    ],
)
def test_needs_context(question: str, leans_back: bool) -> None:
    assert needs_context(question) is leans_back


def test_heuristic_prepends_the_previous_questions_key_terms() -> None:
    rewriter = HeuristicRewriter()
    history = turns(FIRST)
    assert rewriter.rewrite("What about Services?", history) == (
        "Apple's iPhone net sales 2023 What about Services?"
    )
    standalone = "What was Intel's gross margin in Q3 2023?"
    assert rewriter.rewrite(standalone, history) == standalone
    assert rewriter.rewrite("What about Services?", []) == "What about Services?"


def test_the_heuristic_carries_the_searched_query_not_the_raw_follow_up() -> None:
    history = [
        Turn("user", "And Mac?", query="Apple Mac net sales 2023"),
        Turn("assistant", "..."),
    ]
    assert (
        HeuristicRewriter()
        .rewrite("and the year before?", history)
        .startswith("Apple Mac net sales 2023")
    )


def test_llm_rewrite_sends_the_conversation_and_cleans_the_reply() -> None:
    llm = ScriptedLLM(['Standalone question: "What were Apple\'s Services net sales in 2023?"'])
    rewritten = LLMRewriter(llm).rewrite("What about Services?", turns(FIRST, "Down 2% [1][2]."))
    assert rewritten == "What were Apple's Services net sales in 2023?"
    system, user = llm.prompts[0]
    assert "standalone question" in system.content
    assert f"User: {FIRST}" in user.content
    assert "Assistant: Down 2%." in user.content  # citation markers stripped
    assert user.content.endswith("Last question: What about Services?\n\nStandalone question:")


def test_an_unusable_llm_rewrite_falls_back_to_the_heuristic() -> None:
    rewritten = LLMRewriter(ScriptedLLM(["  \n"])).rewrite("What about Services?", turns(FIRST))
    assert rewritten == "Apple's iPhone net sales 2023 What about Services?"


def test_without_history_the_llm_is_not_asked() -> None:
    llm = ScriptedLLM([])
    assert LLMRewriter(llm).rewrite("What about Services?", []) == "What about Services?"
    assert llm.prompts == []


def test_rewriter_for_picks_the_heuristic_for_extractive_only() -> None:
    assert isinstance(rewriter_for(ExtractiveLLM()), HeuristicRewriter)
    assert isinstance(rewriter_for(ScriptedLLM([])), LLMRewriter)


# --- multi-turn answers -----------------------------------------------------------------

CHUNKS = [
    make_chunk(0, "iPhone net sales were $39,669 million in the third quarter of 2023."),
    make_chunk(1, "Services net sales were $21,213 million in the third quarter of 2023."),
]


def test_extractive_follow_up_is_rewritten_recorded_and_private() -> None:
    searcher = FakeSearcher(CHUNKS)
    store = InMemoryConversationStore()
    ans = Answerer(searcher, ExtractiveLLM(max_sentences=1), Settings(), conversations=store)
    first = ans.answer(FIRST, ALICE, conversation_id="conv-1")
    follow = ans.answer("What about Services?", ALICE, conversation_id="conv-1")
    assert searcher.calls[0][0] == FIRST
    assert searcher.calls[1][0] == "Apple's iPhone net sales 2023 What about Services?"
    assert follow.query == searcher.calls[1][0]
    assert follow.question == "What about Services?"
    assert follow.conversation_id == "conv-1"
    assert "rewrite_ms" in follow.timings
    history = store.history("conv-1", ALICE)
    assert [(t.role, t.answer_id) for t in history] == [
        ("user", first.answer_id),
        ("assistant", first.answer_id),
        ("user", follow.answer_id),
        ("assistant", follow.answer_id),
    ]
    assert history[3].content == follow.answer
    with pytest.raises(NotFoundError):
        ans.answer("What about Services?", BOB, conversation_id="conv-1")


def test_scripted_llm_rewrites_before_retrieval() -> None:
    searcher = FakeSearcher(CHUNKS)
    llm = ScriptedLLM(
        [
            "iPhone sales were $39,669 million [1].",
            "What were Apple's Services net sales in Q3 2023?",  # the rewrite
            "Services were $21,213 million [2].",
        ]
    )
    ans = Answerer(searcher, llm, Settings())
    ans.answer(FIRST, ALICE, conversation_id="c")
    follow = ans.answer("And Services?", ALICE, conversation_id="c")
    assert searcher.calls[1][0] == "What were Apple's Services net sales in Q3 2023?"
    assert [c.n for c in follow.citations] == [2]
    assert len(llm.prompts) == 3
    assert "Question: And Services?" in llm.prompts[2][1].content


def test_streamed_turns_are_recorded_once_the_stream_ends() -> None:
    store = InMemoryConversationStore()
    ans = Answerer(FakeSearcher(CHUNKS), ExtractiveLLM(), Settings(), conversations=store)
    events = ans.answer(FIRST, ALICE, conversation_id="s", stream=True)
    assert store.history("s", ALICE) == []
    list(events)
    assert len(store.history("s", ALICE)) == 2


def test_without_a_conversation_id_nothing_is_kept() -> None:
    store = InMemoryConversationStore()
    Answerer(FakeSearcher(CHUNKS), ExtractiveLLM(), Settings(), conversations=store).answer(
        FIRST, ALICE
    )
    assert store._data == {}
