"""The relevance floor: passages none of which is close enough to the question never reach
the model, and the answer says why."""

from __future__ import annotations

from dataclasses import replace

import pytest
from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import Principal, Settings
from retrieval.answer import Answerer, relevance
from retrieval.llm import NO_ANSWER
from retrieval.types import RetrievedChunk

ALICE = Principal(user="alice")
TEXTS = [
    "Total net sales were $81,797 million in the third quarter of 2023.",
    "iPhone net sales were $39,669 million, down from $40,665 million.",
]


def chunks(*scores: float | None) -> list[RetrievedChunk]:
    return [replace(make_chunk(i, TEXTS[i % 2]), dense_score=s) for i, s in enumerate(scores)]


def settings(floor: float | None) -> Settings:
    return Settings(llm={"min_relevance": floor})


def test_below_the_floor_the_model_is_not_called() -> None:
    llm = ScriptedLLM([])  # any call would fail: nothing scripted
    answerer = Answerer(FakeSearcher(chunks(0.21, 0.12)), llm, settings(0.3))
    events = list(answerer.answer("How long should I knead bread dough?", ALICE, stream=True))
    assert [e["type"] for e in events] == ["sources", "token", "done"]
    sources, done = events[0], events[-1]
    assert sources["generate"] is False
    assert sources["context"] == []
    assert sources["relevance"] == pytest.approx(0.21)
    assert "llm.min_relevance=0.3" in sources["note"]
    assert done["answer"] == NO_ANSWER
    assert done["no_answer"] is True
    assert done["finish_reason"] == "none"
    assert done["truncated"] is False
    assert done["note"] == sources["note"]
    assert done["context"] == []
    assert llm.prompts == []


@pytest.mark.parametrize(
    ("scores", "floor"),
    [
        ((0.21, 0.45), 0.3),  # the best passage counts, wherever it ranks
        ((0.31,), 0.3),
        ((0.1, 0.1), None),  # the floor is off
        ((None, None), 0.3),  # the search gave no similarity (lexical, engine fusion)
    ],
)
def test_at_or_above_the_floor_or_without_one_the_model_answers(
    scores: tuple[float | None, ...], floor: float | None
) -> None:
    llm = ScriptedLLM(["Net sales were $81,797 million [1]."])
    result = Answerer(FakeSearcher(chunks(*scores)), llm, settings(floor)).answer(
        "What were Apple's net sales?", ALICE
    )
    assert len(llm.prompts) == 1
    assert result.finish_reason == "stop"
    assert result.note is None
    assert [c.n for c in result.citations] == [1]


def test_relevance_is_the_best_known_similarity() -> None:
    assert relevance(chunks(0.2, None, 0.5)) == 0.5
    assert relevance(chunks(None)) is None
    assert relevance([]) is None
