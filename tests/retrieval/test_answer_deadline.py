"""Time limits that help the user: a deadline stops prompt reading where it is and says so;
once the answer has started, running out of time (or the model failing) cuts it cleanly,
keeping what was said.

The real-model tests use SmolLM2-135M through llama.cpp. They assert on outcomes (what was
read, what was kept, which events came), never on seconds: the deadline is driven by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk, small_llm

from core import BackendUnavailableError, LLMTimeoutError, Principal, Settings
from retrieval.answer import Answerer
from retrieval.llm import Message, TokenStream, Usage
from retrieval.llm import local as local_module
from retrieval.llm.base import Deadline
from retrieval.llm.local import LocalLLM

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["small_llm"]

ALICE = Principal(user="alice")
CHUNKS = [
    make_chunk(0, "Total net sales were $81,797 million in the third quarter of 2023.", doc="aapl"),
    make_chunk(1, "iPhone net sales were $39,669 million, down from $40,665 million.", doc="aapl"),
]
CHAT = [
    Message("system", "Answer in one short sentence."),
    Message("user", "What is the capital of France?"),
]


class HandDeadline(Deadline):
    """A deadline that expires when the test says: by hand, or after ``after`` queries."""

    def __init__(self, timeout_s: float, what: str, *, after: int | None = None) -> None:
        super().__init__(timeout_s, what)
        self.after = after
        self.queries = 0
        self.up = False

    @property
    def expired(self) -> bool:
        self.queries += 1
        if self.after is not None and self.queries > self.after:
            self.up = True
        return self.up


@dataclass
class Deadlines:
    """The deadlines the local backend made; each new one expires after ``after`` queries."""

    made: list[HandDeadline] = field(default_factory=list)
    after: int | None = None


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch) -> Deadlines:
    """Every deadline the local backend makes from now on expires only as the test says."""
    hand = Deadlines()

    def make(timeout_s: float, what: str) -> HandDeadline:
        hand.made.append(HandDeadline(timeout_s, what, after=hand.after))
        return hand.made[-1]

    monkeypatch.setattr(local_module, "Deadline", make)
    return hand


@pytest.fixture
def llm(small_llm: LocalLLM) -> Iterator[LocalLLM]:
    """A model of its own: its context holds nothing of other tests' prompts."""
    own = LocalLLM(
        small_llm.model,
        context_window=2048,
        max_tokens=24,
        temperature=0.0,
        timeout_s=60.0,
        threads=2,
    )
    own.warm_up()
    yield own
    own.close()


def long_prompt(words: str) -> list[Message]:
    return [Message("user", words * 80)]  # a little over two batches of 512 tokens


def spy_eval(llm: LocalLLM) -> tuple[Llama, list[int]]:
    """The model's llama.cpp handle, recording how many tokens each ``eval`` is given."""
    llama = llm._llama
    assert llama is not None
    given: list[int] = []
    real = llama.eval

    def eval_(tokens: Sequence[int]) -> None:
        given.append(len(tokens))
        real(tokens)

    llama.eval = eval_  # type: ignore[method-assign]
    return llama, given


def test_a_deadline_stops_prompt_reading_inside_a_batch(
    llm: LocalLLM, deadlines: Deadlines
) -> None:
    llama, _ = spy_eval(llm)
    prompt = long_prompt("The quarterly report lists net sales by segment. ")
    assert llm.count_messages(prompt) > llama.n_batch  # more than one batch to read
    deadlines.after = 20  # a few of the abort callback's checks: inside the first batch
    reply = llm.stream(prompt)
    with pytest.raises(LLMTimeoutError) as caught:
        reply.completion()
    message = str(caught.value)
    assert "llm.timeout_s=60s" in message
    assert "still reading the question and its passages" in message
    assert "nothing was written" in message
    # It stopped where it was: not one batch was finished, let alone the prompt.
    assert llama.n_tokens == 0
    assert f"0 of {reply.usage.prompt_tokens:,} prompt tokens read" in message
    assert deadlines.made[0].up
    # The model is left usable: the next question is answered in full.
    deadlines.after = None
    assert "Paris" in llm.complete(CHAT).text


def test_what_was_read_before_the_deadline_is_not_read_again(
    llm: LocalLLM, deadlines: Deadlines
) -> None:
    llama, given = spy_eval(llm)
    # How many checks reading one batch takes (the same for every full batch of a model).
    llm.complete(long_prompt("Cash flows from operating activities, in millions. "), max_tokens=1)
    batches = -(-given[0] // llama.n_batch)
    assert batches >= 2
    per_batch = deadlines.made[-1].queries // batches
    prompt = long_prompt("Revenue by region and segment, in millions. ")
    deadlines.after = per_batch + per_batch // 2  # the first batch read, the second not
    given.clear()
    reply = llm.stream(prompt, max_tokens=1)
    with pytest.raises(LLMTimeoutError):
        reply.completion()
    total = reply.usage.prompt_tokens
    reused = total - given[0]  # the chat template's opening, held since the first prompt
    read = llama.n_tokens
    assert read == reused + llama.n_batch  # the first batch kept, the second abandoned
    deadlines.after = None
    given.clear()
    llm.complete(prompt, max_tokens=1)
    assert given[0] == total - read  # the retry read only the rest


def test_a_deadline_after_the_first_token_keeps_the_text(
    llm: LocalLLM, deadlines: Deadlines
) -> None:
    answerer = Answerer(FakeSearcher(CHUNKS), llm, Settings())
    stream = answerer.answer("What were Apple's total net sales?", ALICE, stream=True)
    kinds: list[str] = []
    said: list[str] = []
    for event in stream:
        kinds.append(event["type"])
        if event["type"] == "token":
            said.append(event["text"])
            deadlines.made[-1].up = True  # time runs out right after the first token
    done = stream.result
    assert done is not None
    assert kinds[0] == "sources"
    assert kinds[-1] == "done"
    assert kinds.count("token") == 1
    assert done.answer == "".join(said).strip() != ""
    assert done.truncated
    assert done.finish_reason == "timeout"
    assert done.note is not None
    assert "cut off" in done.note
    assert "llm.timeout_s" in done.note


class FailingLLM(ScriptedLLM):
    """Says ``words``, then fails with ``error``."""

    def __init__(self, words: Sequence[str], error: BackendUnavailableError) -> None:
        super().__init__([])
        self.words = list(words)
        self.error = error

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        self.prompts.append(list(messages))

        def deltas() -> Iterator[str]:
            yield from self.words
            raise self.error

        return TokenStream(deltas(), Usage(prompt_tokens=100))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (LLMTimeoutError("local model did not finish within llm.timeout_s=5s"), "timeout"),
        (BackendUnavailableError("LLM endpoint failed (502): bad gateway"), "error"),
    ],
)
def test_a_failure_after_tokens_ends_the_stream_with_done_not_an_error(
    error: BackendUnavailableError, reason: str
) -> None:
    llm = FailingLLM(["Net sales", " were $81,797", " million [1]"], error)
    events = list(
        Answerer(FakeSearcher(CHUNKS), llm, Settings()).answer("Sales?", ALICE, stream=True)
    )
    types = [e["type"] for e in events]
    assert types[0] == "sources"
    assert types[-1] == "done"
    assert set(types[1:-1]) == {"token"}
    shown = "".join(e["text"] for e in events if e["type"] == "token")
    assert shown == "Net sales were $81,797 million [1]"
    done = events[-1]
    assert done["answer"] == "Net sales were $81,797 million [1]"
    assert [c["n"] for c in done["citations"]] == [1]
    assert done["truncated"] is True
    assert done["finish_reason"] == reason
    assert str(error) in done["note"]
    assert done["completion_tokens"] > 0


def test_a_failure_before_the_first_token_is_an_error_after_the_sources() -> None:
    llm = FailingLLM([], LLMTimeoutError("local model did not finish within llm.timeout_s=5s"))
    stream = Answerer(FakeSearcher(CHUNKS), llm, Settings()).answer("Sales?", ALICE, stream=True)
    assert next(stream)["type"] == "sources"
    with pytest.raises(LLMTimeoutError, match="timeout_s"):
        next(stream)


def test_reaching_max_tokens_is_a_truncated_answer() -> None:
    class Long(ScriptedLLM):
        def stream(
            self, messages: Sequence[Message], *, max_tokens: int | None = None
        ) -> TokenStream:
            stream = super().stream(messages, max_tokens=max_tokens)
            stream.usage.finish_reason = "length"
            return stream

    result = Answerer(FakeSearcher(CHUNKS), Long(["Net sales were"]), Settings()).answer(
        "Sales?", ALICE
    )
    assert result.answer == "Net sales were"
    assert result.truncated
    assert result.finish_reason == "length"
    assert result.note is not None
    assert "llm.max_tokens" in result.note
