"""Feedback exports: supervised examples and preference pairs, as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.export import preference_records, sft_records
from retrieval import ANSWER_SYSTEM, AnswerRow, FeedbackPair, FeedbackRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pair(
    n: int,
    question: str,
    answer: str,
    rating: str,
    correction: str | None = None,
    tenant: str = "acme",
    finish_reason: str | None = "stop",
) -> FeedbackPair:
    ans = AnswerRow(
        answer_id=f"a{n}",
        tenant=tenant,
        user="ann",
        question=question,
        query=question,
        answer=answer,
        citations=[],
        context=[{"n": 1, "doc_id": "d", "chunk_id": "c"}],
        context_text=f"[1] Doc\ncontext {n}",
        model={"backend": "extractive"},
        finish_reason=finish_reason,
        created_at=T0 + timedelta(minutes=n),
    )
    fb = FeedbackRow(
        feedback_id=f"f{n}",
        answer_id=f"a{n}",
        tenant=tenant,
        user="ann",
        rating=rating,
        correction=correction,
        created_at=T0 + timedelta(minutes=n, seconds=30),
    )
    return FeedbackPair(fb, ans)


@pytest.mark.parametrize("finish", ["timeout", "error", "length"])
def test_a_cut_off_answer_is_never_a_target_or_a_rejected_answer(finish: str) -> None:
    cut = pair(1, "What was revenue?", "Revenue was", "up", finish_reason=finish)
    cut_down = pair(2, "What was revenue?", "Total", "down", finish_reason=finish)
    corrected = pair(
        3, "What was revenue?", "Rev", "down", "Revenue was $5 [1].", finish_reason=finish
    )
    whole = pair(4, "What was revenue?", "Revenue was $9 million [1].", "down")
    sft = list(sft_records([cut, cut_down, corrected, whole]))
    # Only the user's correction of a cut-off answer is learned, never its own text.
    assert [(r["answer_id"], r["answer"]) for r in sft] == [("a3", "Revenue was $5 [1].")]
    prefs = list(preference_records([cut, cut_down, corrected, whole]))
    assert {p["rejected_answer_id"] for p in prefs} == {"a4"}
    assert all(p["chosen"] != "Revenue was" for p in prefs)
    # Without the mark (an answer that ended on its own) the same rows do count.
    whole_up = pair(1, "What was revenue?", "Revenue was", "up")
    assert [r["answer_id"] for r in sft_records([whole_up])] == ["a1"]


def test_sft_takes_up_rated_answers_and_corrections() -> None:
    pairs = [
        pair(1, "Q1?", "good [1]", "up"),
        pair(2, "Q2?", "bad [1]", "down"),
        pair(3, "Q3?", "bad [1]", "down", correction="fixed [1]"),
        pair(4, "Q4?", "fine [1]", "up", correction="better [1]"),
    ]
    out = list(sft_records(pairs))
    assert [(r["answer_id"], r["answer"], r["source"]) for r in out] == [
        ("a1", "good [1]", "accepted"),
        ("a3", "fixed [1]", "correction"),
        ("a4", "better [1]", "correction"),
    ]
    first = out[0]
    assert first["question"] == "Q1?"
    assert first["context"] == "[1] Doc\ncontext 1"
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert first["messages"][0]["content"] == ANSWER_SYSTEM
    assert "context 1" in first["messages"][1]["content"]
    assert "Q1?" in first["messages"][1]["content"]
    assert first["messages"][2]["content"] == "good [1]"
    json.dumps(out)  # every record is plain JSON


def test_preference_pairs_for_the_same_question() -> None:
    pairs = [
        pair(1, "What is X?", "X is 5 [1]", "up"),
        pair(2, "what  is x?", "X is 7 [1]", "down", correction="X is 5 [1]"),
        pair(3, "What is X?", "no idea", "down"),
        pair(4, "What is Y?", "Y is 1 [1]", "down"),  # nothing chosen for Y: no pair
        pair(5, "What is X?", "X is 5 [1]", "up", tenant="other"),  # other tenant: apart
    ]
    out = list(preference_records(pairs))
    got = {(r["rejected_answer_id"], r["chosen_answer_id"], r["chosen"]) for r in out}
    assert got == {
        ("a2", "a2", "X is 5 [1]"),  # its own correction (the up-rated a1 says the same)
        ("a3", "a1", "X is 5 [1]"),  # the same text once, from the first that gave it
    }
    own = next(r for r in out if r["rejected_answer_id"] == "a2")
    assert own["chosen_source"] == "correction"
    assert own["rejected"] == "X is 7 [1]"
    assert own["context"] == "[1] Doc\ncontext 2"
    assert [m["role"] for m in own["prompt"]] == ["system", "user"]


def test_a_correction_equal_to_the_answer_makes_no_pair() -> None:
    assert list(preference_records([pair(1, "Q?", "same", "down", correction=" same ")])) == []


@pytest.mark.parametrize("kind", ["sft", "preference"])
def test_export_route_filters_by_time_and_rating(tmp_path: Path, kind: str) -> None:
    from tests.api.apikit import new_key, running_app, settings_for

    with running_app(settings_for(tmp_path / "data")) as http:
        w = new_key(http, user="w", role="writer")
        w.upload("a.md", "# A\n\nThe gecko fund holds 31 million dollars in bonds.\n")
        ids = []
        for rating, correction in (("up", None), ("down", "It holds 31 million [1]")):
            a = w.post("/v1/answer", json={"question": "How big is the gecko fund?"}).json()
            r = w.post(
                "/v1/feedback",
                json={"answer_id": a["answer_id"], "rating": rating, "correction": correction},
            )
            assert r.status_code == 201
            ids.append(a["answer_id"])
        r = w.get("/v1/feedback/export", params={"kind": kind})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.text.splitlines()]
        assert lines
        assert all(x["kind"] == kind for x in lines)
        if kind == "sft":
            assert {x["answer_id"] for x in lines} == set(ids)
            only_up = w.get("/v1/feedback/export", params={"kind": kind, "rating": "up"})
            assert [json.loads(x)["answer_id"] for x in only_up.text.splitlines()] == ids[:1]
        else:
            assert lines[0]["rejected_answer_id"] == ids[1]
        future = w.get("/v1/feedback/export", params={"kind": kind, "since": "2999-01-01"})
        assert future.text == ""
        bad = w.get("/v1/feedback/export", params={"since": "2026-02-01", "until": "2026-01-01"})
        assert bad.status_code == 422
        # a second rating replaces the first
        again = w.post("/v1/feedback", json={"answer_id": ids[0], "rating": "down"})
        assert again.status_code == 201
        assert w.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}).status_code == 404
