"""What the local backend keeps between requests: the system message's read state, restored
after other prompts; and prompt-lookup speculative decoding, which must not change a reply.

Real llama.cpp runs with SmolLM2-135M. The tests count the tokens each ``eval`` reads and
compare replies, never seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import Settings, get_spec, prepare
from retrieval.llm import Message
from retrieval.llm.local import LocalLLM
from retrieval.llm.prompts import answer_messages, rewrite_messages

SMALL_LLM = "smollm2-135m-instruct"
CONTEXT = (
    "[1] Quarterly report (aapl.pdf) | Net sales | p. 3\n"
    "Total net sales were $81,797 million in the third quarter of 2023. "
    "iPhone net sales were $39,669 million, down from $40,665 million."
)


def make_llm(**kw: int) -> LocalLLM:
    model = prepare(get_spec(SMALL_LLM), Settings().models.cache_dir)
    return LocalLLM(
        model,
        context_window=1024,
        max_tokens=24,
        temperature=0.0,
        timeout_s=120.0,
        threads=2,
        **kw,
    )


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    llm = make_llm()
    yield llm
    llm.close()


class EvalSpy:
    """Records how many tokens each ``Llama.eval`` call reads."""

    def __init__(self, llm: LocalLLM) -> None:
        llm.warm_up()
        assert llm._llama is not None
        self.llama = llm._llama
        self.reads: list[int] = []
        self._eval = self.llama.eval

    def __enter__(self) -> EvalSpy:
        def spy(tokens: list[int]) -> None:
            self.reads.append(len(tokens))
            self._eval(tokens)

        self.llama.eval = spy  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.llama.eval = self._eval  # type: ignore[method-assign]


def prompt_tokens(llm: LocalLLM, messages: list[Message]) -> int:
    return llm.stream(messages, max_tokens=1).usage.prompt_tokens


def test_the_system_message_is_read_once_then_restored_after_another_prompt(
    llm: LocalLLM,
) -> None:
    first = answer_messages("What were Apple's total net sales?", CONTEXT)
    other = rewrite_messages("And iPhone?", [("user", "Sales?"), ("assistant", "Big.")])
    second = answer_messages("What were iPhone net sales?", CONTEXT)
    assert llm._llama is None or llm._prefixes == {}
    with EvalSpy(llm) as spy:
        llm.complete(first)
    fixed = len(next(iter(llm._prefixes)))
    assert fixed > 16
    # The first read stopped after the system message to save its state, then read the rest.
    assert spy.reads[:2] == [fixed, prompt_tokens(llm, first) - fixed]

    llm.complete(other)  # another system message: the context no longer starts with ours
    assert len(llm._prefixes) == 2
    with EvalSpy(llm) as spy:
        llm.complete(second)
    total = prompt_tokens(llm, second)
    assert spy.reads[0] == total - fixed  # the system message was not read again


def test_a_restored_system_message_gives_the_reply_a_fresh_read_gives(llm: LocalLLM) -> None:
    question = answer_messages("What were iPhone net sales?", CONTEXT)
    llm.complete(question)  # the state after the system message is saved
    llm.complete(rewrite_messages("And Mac?", [("user", "Sales?"), ("assistant", "Big.")]))
    restored = llm.complete(question).text

    fresh = make_llm()
    try:
        assert fresh.complete(question).text == restored
    finally:
        fresh.close()


def test_a_short_system_message_is_not_kept(llm: LocalLLM) -> None:
    llm.complete([Message("system", "Be brief."), Message("user", "Say hello.")])
    assert all(len(tokens) > 16 for tokens in llm._prefixes)


def test_prompt_lookup_decoding_writes_the_same_opening() -> None:
    # A prompt longer than one batch (512 tokens): drafts are checked at positions past it.
    long_context = "\n\n".join([CONTEXT] * 8)
    question = answer_messages("What were Apple's total net sales?", long_context)
    plain, lookup = make_llm(), make_llm(prompt_lookup=4)
    assert prompt_tokens(plain, question) > 520
    try:
        drafted = lookup.complete(question, max_tokens=40).text
        read = plain.complete(question, max_tokens=40).text
        # Drafts are checked in a batch, whose sums are not bit-identical to one token at a
        # time: at a near tie the greedy choice may differ and the replies part. Until then
        # they are the same words.
        assert len(drafted) > 30
        assert drafted[:30] == read[:30]
        assert lookup.describe()["prompt_lookup"] == 4
    finally:
        plain.close()
        lookup.close()


def test_a_negative_prompt_lookup_is_refused() -> None:
    from core import ModelError

    with pytest.raises(ModelError, match="prompt_lookup"):
        make_llm(prompt_lookup=-1)
