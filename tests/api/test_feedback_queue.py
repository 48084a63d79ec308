"""The admin feedback queue (`GET /v1/feedback`): rated-down answers with their question,
sources and comment; admins only; answers built on passages the admin may not read are left
out, like the export."""

from __future__ import annotations

from pathlib import Path


def test_the_queue_lists_rated_down_answers_to_admins_only(tmp_path: Path) -> None:
    from tests.api.apikit import new_key, running_app, settings_for

    with running_app(settings_for(tmp_path / "data")) as http:
        admin = new_key(http, user="root", role="admin")
        ann = new_key(http, user="ann", role="writer")
        bob = new_key(http, user="bob", role="writer")
        ann.upload("a.md", "# A\n\nThe gecko fund holds 31 million dollars in bonds.\n", acl=["*"])
        bob.upload("b.md", "# B\n\nThe otter fund holds 12 million dollars in cash.\n")
        rated = {}
        for who, question, rating in (
            (ann, "How big is the gecko fund?", "down"),
            (ann, "What does the gecko fund hold?", "up"),
            (bob, "How big is the otter fund?", "down"),  # on bob's private document
        ):
            a = who.post("/v1/answer", json={"question": question}).json()
            r = who.post(
                "/v1/feedback",
                json={"answer_id": a["answer_id"], "rating": rating, "comment": f"{question} ?"},
            )
            assert r.status_code == 201
            rated[question] = a

        assert ann.get("/v1/feedback").status_code == 403
        r = admin.get("/v1/feedback")
        assert r.status_code == 200, r.text
        body = r.json()
        items = body["feedback"]
        assert [i["question"] for i in items] == ["How big is the gecko fund?"]
        item = items[0]
        assert item["rating"] == "down"
        assert item["user"] == "ann"
        assert item["comment"] == "How big is the gecko fund? ?"
        assert item["answer"] == rated["How big is the gecko fund?"]["answer"]
        assert "31 million" in item["answer"]
        assert [s["source_uri"].rsplit("/", 1)[-1] for s in item["sources"]] == ["a.md"]
        assert body["total"] == 1
        assert body["withheld"] == 1  # bob's private document: the admin may not read it

        ups = admin.get("/v1/feedback", params={"rating": "up"}).json()["feedback"]
        assert [i["question"] for i in ups] == ["What does the gecko fund hold?"]
