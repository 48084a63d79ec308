"""The conversation store's list and read-back, on SQLite and a real PostgreSQL server.

What the chat page shows instead of a browser cache: a caller's own conversations
(never another user's or tenant's, even under the same id), newest first, and each
turn with its answer's citations and rating.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import NotFoundError, Principal, Settings, make_engine, upgrade_schema
from retrieval import AnswerResult, Citation, Turn
from retrieval.records import TITLE_CHARS, Records, SqlConversationStore, conversation_title

ANN = Principal(user="ann", tenant="acme")
BOB = Principal(user="bob", tenant="acme")
ANN_ELSEWHERE = Principal(user="ann", tenant="globex")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    made = make_engine(Settings(data_dir=tmp_path / "data", database={"url": url}))
    upgrade_schema(made)
    yield made
    made.dispose()


def _answer(answer_id: str, doc_id: str) -> AnswerResult:
    cite = Citation(1, doc_id, "c-1", "Plan", "upload://plan.md", 1, 1, ("Plan",), "text", 0.9)
    return AnswerResult(
        answer_id=answer_id,
        question="q",
        query="q",
        answer="a [1]",
        citations=[cite],
        context=[cite],
        no_answer=False,
    )


def test_each_principal_lists_only_its_own_conversations_newest_first(engine: Engine) -> None:
    store = SqlConversationStore(engine)
    store.append("c1", ANN, [Turn("user", "first  question\nof c1"), Turn("assistant", "a")])
    store.append("c2", ANN, [Turn("user", "c2?"), Turn("assistant", "a")])
    store.append("c1", BOB, [Turn("user", "bob's c1"), Turn("assistant", "a")])
    store.append("c1", ANN_ELSEWHERE, [Turn("user", "globex c1"), Turn("assistant", "a")])
    store.append("c1", ANN, [Turn("user", "again"), Turn("assistant", "b")])

    mine = store.conversations(ANN, limit=10)
    assert [(c.conversation_id, c.title, c.turns) for c in mine] == [
        ("c1", "first question of c1", 4),
        ("c2", "c2?", 2),
    ]
    assert [c.title for c in store.conversations(BOB, limit=10)] == ["bob's c1"]
    assert [c.title for c in store.conversations(ANN_ELSEWHERE, limit=10)] == ["globex c1"]
    assert [c.conversation_id for c in store.conversations(ANN, limit=1, offset=1)] == ["c2"]
    assert store.conversations(Principal(user="carl", tenant="acme"), limit=10) == []


def test_a_transcript_carries_citations_and_rating_for_its_owner_only(engine: Engine) -> None:
    store, records = SqlConversationStore(engine), Records(engine)
    records.record_answer(_answer("ans-1", "doc-1"), ANN, None)
    records.give_feedback("ans-1", ANN, rating="up", comment=None, correction=None)
    store.append(
        "c1", ANN, [Turn("user", "q", answer_id="ans-1"), Turn("assistant", "a", answer_id="ans-1")]
    )
    # bob's turn naming ann's answer id gets none of its citations.
    store.append(
        "c1", BOB, [Turn("user", "q", answer_id="ans-1"), Turn("assistant", "b", answer_id="ans-1")]
    )

    turns = store.transcript("c1", ANN)
    assert [(t.role, t.content) for t in turns] == [("user", "q"), ("assistant", "a")]
    assert turns[0].citations == []
    assert [c["doc_id"] for c in turns[1].citations] == ["doc-1"]
    assert turns[1].rating == "up"
    bobs = store.transcript("c1", BOB)
    assert [(t.citations, t.rating) for t in bobs] == [([], None), ([], None)]
    for stranger in (ANN_ELSEWHERE, Principal(user="carl", tenant="acme")):
        with pytest.raises(NotFoundError):
            store.transcript("c1", stranger)


def test_titles_are_one_line_and_short() -> None:
    assert conversation_title("  What is\n\tthe plan? ") == "What is the plan?"
    long = conversation_title("word " * 100)
    assert len(long) == TITLE_CHARS
    assert long.endswith("…")
