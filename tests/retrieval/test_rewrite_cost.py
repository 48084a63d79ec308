"""Follow-up rewriting costs little: skipped for questions that stand alone, bounded otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import LLMTimeoutError, Principal, Settings
from retrieval.answer import Answerer
from retrieval.conversation import LLMRewriter, Turn
from retrieval.llm import Message, TokenStream

ALICE = Principal(user="alice")
FIRST = "How did Apple's iPhone net sales change in 2023?"
HISTORY = [
    Turn("user", "What was Microsoft's cloud revenue?", query="Microsoft cloud revenue"),
    Turn("assistant", "Cloud revenue was $28.5 billion [1]."),
    Turn("user", "Did Amazon report acquisitions?", query="Amazon acquisitions"),
    Turn("assistant", "Cloud revenue was $28.5 billion [1]."),
    Turn("user", FIRST, query=FIRST),
    Turn("assistant", "iPhone net sales fell 2% [1]. " + "More detail. " * 60),
]


class RecordingLLM(ScriptedLLM):
    """A scripted model that also records the reply limit of each call."""

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(replies)
        self.limits: list[int | None] = []

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        self.limits.append(max_tokens)
        return super().stream(messages, max_tokens=max_tokens)


def test_a_follow_up_that_stands_alone_is_searched_without_asking_the_model() -> None:
    llm = RecordingLLM([])  # any call would fail: nothing scripted
    standalone = "What was Intel's gross margin in Q3 2023?"
    assert LLMRewriter(llm).rewrite(standalone, HISTORY) == standalone
    assert llm.prompts == []


def test_an_answer_to_a_standalone_follow_up_makes_one_model_call() -> None:
    searcher = FakeSearcher([make_chunk(0, "Intel's gross margin was 35.8% in Q3 2023.")])
    llm = RecordingLLM(["Intel's gross margin was 35.8% [1]."])
    answerer = Answerer(searcher, llm, Settings())
    answerer.conversations.append("c", ALICE, HISTORY)
    answerer.answer("What was Intel's gross margin in Q3 2023?", ALICE, conversation_id="c")
    assert len(llm.prompts) == 1  # the answer only; no rewrite
    assert searcher.calls[0][0] == "What was Intel's gross margin in Q3 2023?"


def test_a_follow_up_that_refers_back_is_rewritten_from_a_short_bounded_prompt() -> None:
    llm = RecordingLLM(["What were Apple's Services net sales in 2023?"])
    rewritten = LLMRewriter(llm).rewrite("And what about their Services?", HISTORY)
    assert rewritten == "What were Apple's Services net sales in 2023?"
    (_, user), limit = llm.prompts[0], llm.limits[0]
    assert limit is not None
    assert limit <= 64
    assert "Microsoft" not in user.content  # only the last two exchanges
    assert "Amazon" in user.content
    assert FIRST in user.content
    assert "More detail. " * 30 not in user.content  # earlier answers are cut short


def test_a_busy_model_falls_back_to_the_heuristic_rewrite() -> None:
    class Busy(RecordingLLM):
        def stream(
            self, messages: Sequence[Message], *, max_tokens: int | None = None
        ) -> TokenStream:
            raise LLMTimeoutError("local model stayed busy for llm.timeout_s=1s")

    rewritten = LLMRewriter(Busy([])).rewrite("What about Services?", HISTORY)
    assert rewritten == "Apple's iPhone net sales 2023 What about Services?"
