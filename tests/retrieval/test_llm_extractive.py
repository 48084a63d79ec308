"""The ``extractive`` backend, and choosing backends by name through the registry."""

from __future__ import annotations

from typing import Any

import pytest
from answer_testkit import make_chunk

from core import ConfigError, Settings
from retrieval.context import pack_context
from retrieval.llm import (
    LLM,
    NO_ANSWER,
    Message,
    backends,
    estimate_tokens,
    get_llm,
    register_backend,
)
from retrieval.llm import base as llm_base
from retrieval.llm.extractive import ExtractiveLLM, extract
from retrieval.llm.openai_compat import OpenAICompatLLM
from retrieval.llm.prompts import answer_messages

PASSAGES = [
    "Total net sales were $81,797 million in the third quarter. The weather was mild.",
    "iPhone net sales decreased to $39,669 million. Mac net sales decreased as well.",
    "Services net sales increased to $21,213 million, a record. Wearables were flat.",
]


def context(*texts: str) -> str:
    chunks = [make_chunk(i, t) for i, t in enumerate(texts)]
    return pack_context(chunks, 10_000, len).text


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much were iPhone net sales?", "iPhone net sales decreased to $39,669 million. [2]"),
        (
            "What did Services earn?",
            "Services net sales increased to $21,213 million, a record. [3]",
        ),
    ],
)
def test_the_best_sentence_leads_with_its_citation(question: str, expected: str) -> None:
    answer = extract(question, context(*PASSAGES), max_sentences=1)
    assert answer == expected


def test_sentences_come_in_passage_order_each_with_its_label() -> None:
    answer = extract("iPhone and Services net sales", context(*PASSAGES), max_sentences=2)
    assert answer == (
        "iPhone net sales decreased to $39,669 million. [2] "
        "Services net sales increased to $21,213 million, a record. [3]"
    )


def test_rare_terms_outweigh_common_ones() -> None:
    answer = extract("Wearables net sales", context(*PASSAGES), max_sentences=1)
    assert answer.endswith("[3]")
    assert "Wearables" in answer


@pytest.mark.parametrize("question", ["What is the capital of France?", "the of and"])
def test_no_matching_sentence_is_the_no_answer_sentence(question: str) -> None:
    assert extract(question, context(*PASSAGES)) == NO_ANSWER


def test_backend_reads_the_answer_prompt_and_is_deterministic() -> None:
    llm = ExtractiveLLM(max_sentences=1)
    messages = answer_messages("How much were iPhone net sales?", context(*PASSAGES))
    stream = llm.stream(messages)
    deltas = list(stream)
    assert len(deltas) > 3
    assert "".join(deltas) == "iPhone net sales decreased to $39,669 million. [2]"
    assert llm.complete(messages).text == "".join(deltas)
    assert stream.usage.prompt_tokens == llm.count_messages(messages)
    assert stream.usage.completion_tokens == estimate_tokens("".join(deltas))


def test_backend_without_an_answer_prompt_has_no_answer() -> None:
    assert ExtractiveLLM().complete([Message("user", "Hello there")]).text == NO_ANSWER


# --- registry ---------------------------------------------------------------------------


def test_backends_are_chosen_by_name_from_settings() -> None:
    assert set(backends()) >= {"local", "openai", "extractive"}
    extractive = get_llm(Settings(llm={"backend": "extractive", "context_window": 2048}))
    assert isinstance(extractive, ExtractiveLLM)
    assert extractive.context_window == 2048
    remote = get_llm(
        Settings(llm={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    )
    assert isinstance(remote, OpenAICompatLLM)
    assert remote.describe()["model"] == "m"


def test_an_unknown_backend_is_a_config_error() -> None:
    settings = Settings()
    settings.llm.backend = "nope"  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"unknown llm\.backend 'nope'"):
        get_llm(settings)


def test_a_registered_backend_is_built_by_its_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    class Echo(ExtractiveLLM):
        backend = "echo"

    def build(settings: Settings) -> LLM:
        return Echo(context_window=settings.llm.context_window)

    monkeypatch.setattr(llm_base, "_FACTORIES", dict(llm_base._FACTORIES))  # undone after
    register_backend("echo", build)
    settings = Settings()
    settings.llm.backend = "echo"  # type: ignore[assignment]
    built: Any = get_llm(settings)
    assert isinstance(built, Echo)
    assert "echo" in backends()
