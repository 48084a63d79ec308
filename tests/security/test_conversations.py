"""Conversations live on the server, and each is its owner's alone (issue 12, finding 6).

One app, four keys:

======  ======  =======  ======
key     tenant  groups   role
======  ======  =======  ======
ann     acme    finance  writer  (owns the documents)
carl    acme    finance  reader  (asks; the conversations are his)
bob     acme    legal    writer  (same tenant, another user)
ann2    globex  finance  writer  (user "ann" again, in another tenant)
root    acme    finance  admin   (deletes a document)
======  ======  =======  ======

ann shares two documents with ``group:finance``; carl asks about each in a
conversation of his own. Then ann narrows one document to herself and deletes the
other: carl's conversations keep his turns, but no longer cite either document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core import Principal
from retrieval import SqlConversationStore, Turn
from tests.api.apikit import Client, new_key, running_app, settings_for

PLAN = (
    "# Merger plan\n\nThe merger codename is zebracorn. The zebracorn merger closes in "
    "March and values the target at 900 million euros.\n"
)
MEMO = (
    "# Lawsuit memo\n\nThe pelicanite lawsuit settles for 42 million dollars. The "
    "pelicanite settlement is confidential until June.\n"
)
PLAN_Q = "What is the zebracorn merger worth?"
MEMO_Q = "How much does the pelicanite lawsuit settle for?"


@dataclass
class World:
    http: TestClient
    keys: dict[str, Client]
    plan_id: str
    memo_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("conversations")
    with running_app(settings_for(root / "data")) as http:
        keys = {
            "ann": new_key(http, user="ann", groups=["finance"], tenant="acme", role="writer"),
            "carl": new_key(http, user="carl", groups=["finance"], tenant="acme", role="reader"),
            "bob": new_key(http, user="bob", groups=["legal"], tenant="acme", role="writer"),
            "ann2": new_key(http, user="ann", groups=["finance"], tenant="globex", role="writer"),
            "root": new_key(http, user="root", groups=["finance"], tenant="acme", role="admin"),
        }
        plan = keys["ann"].upload("plan.md", PLAN, acl=["group:finance"])
        memo = keys["ann"].upload("memo.md", MEMO, acl=["group:finance"])
        yield World(http, keys, plan["doc_id"], memo["doc_id"])


def ask(client: Client, question: str, conversation_id: str, **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/v1/answer", json={"question": question, "conversation_id": conversation_id, **extra}
    )
    assert r.status_code == 200, r.text
    if extra.get("stream"):
        done = r.text.split("event: done\ndata: ", 1)[1].split("\n", 1)[0]
        parsed: dict[str, Any] = json.loads(done)
        return parsed
    body: dict[str, Any] = r.json()
    return body


def listed(client: Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/v1/conversations", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["conversations"]
    return found


def cited_docs(detail: dict[str, Any]) -> set[str]:
    return {c["doc_id"] for t in detail["turns"] for c in t["citations"]}


def test_the_answer_route_records_the_conversation_for_its_owner_only(world: World) -> None:
    carl = world.keys["carl"]
    answer = ask(carl, PLAN_Q, "carl-plan")
    assert "zebracorn" in answer["answer"]
    ask(carl, "And when does it close?", "carl-plan", stream=True)

    mine = {c["id"]: c for c in listed(carl)}
    assert mine["carl-plan"]["title"] == PLAN_Q
    assert mine["carl-plan"]["turns"] == 4
    detail = carl.get("/v1/conversations/carl-plan").json()
    assert [t["role"] for t in detail["turns"]] == ["user", "assistant"] * 2
    assert detail["turns"][0]["content"] == PLAN_Q
    assert detail["turns"][1]["answer_id"] == answer["answer_id"]
    assert detail["turns"][1]["content"] == answer["answer"]
    assert world.plan_id in cited_docs(detail)
    assert detail["turns"][1]["citations"][0]["snippet"]

    for other in ("bob", "ann", "ann2", "root"):
        client = world.keys[other]
        assert "carl-plan" not in {c["id"] for c in listed(client)}
        r = client.get("/v1/conversations/carl-plan")
        assert r.status_code == 404, (other, r.text)
        assert r.json()["error"]["code"] == "not_found"
        assert "zebracorn" not in r.text


def test_the_same_id_in_another_account_is_another_conversation(world: World) -> None:
    carl, bob, ann2 = world.keys["carl"], world.keys["bob"], world.keys["ann2"]
    ask(carl, PLAN_Q, "shared-id")
    ask(bob, "What does the lawsuit memo say?", "shared-id")
    ask(ann2, "Where is the merger plan?", "shared-id")

    carls = carl.get("/v1/conversations/shared-id").json()
    assert [t["content"] for t in carls["turns"] if t["role"] == "user"] == [PLAN_Q]
    bobs = bob.get("/v1/conversations/shared-id").json()
    assert [t["content"] for t in bobs["turns"] if t["role"] == "user"] == [
        "What does the lawsuit memo say?"
    ]
    assert "zebracorn" not in json.dumps(bobs)
    assert "zebracorn" not in json.dumps(ann2.get("/v1/conversations/shared-id").json())
    # Another user's turn never shows up in carl's conversation's count.
    assert {c["id"]: c["turns"] for c in listed(carl)}["shared-id"] == 2


def test_only_the_owner_deletes_a_conversation(world: World) -> None:
    carl = world.keys["carl"]
    ask(carl, PLAN_Q, "carl-delete")
    for other in ("bob", "ann", "ann2", "root"):
        r = world.keys[other].delete("/v1/conversations/carl-delete")
        assert r.status_code == 404, (other, r.text)
    assert carl.get("/v1/conversations/carl-delete").status_code == 200

    r = carl.delete("/v1/conversations/carl-delete")
    assert r.status_code == 204
    assert carl.get("/v1/conversations/carl-delete").status_code == 404
    assert carl.delete("/v1/conversations/carl-delete").status_code == 404
    assert "carl-delete" not in {c["id"] for c in listed(carl)}


def test_citations_of_documents_the_caller_can_no_longer_read_are_dropped(
    world: World,
) -> None:
    ann, carl = world.keys["ann"], world.keys["carl"]
    ask(carl, PLAN_Q, "carl-acl")
    ask(carl, MEMO_Q, "carl-gone")
    assert world.plan_id in cited_docs(carl.get("/v1/conversations/carl-acl").json())
    assert world.memo_id in cited_docs(carl.get("/v1/conversations/carl-gone").json())

    # ann narrows the plan to herself (same file name: a new version); the memo is deleted.
    ann.upload("plan.md", PLAN, acl=["user:ann"])
    assert world.keys["root"].delete(f"/v1/documents/{world.memo_id}").status_code == 204

    narrowed = carl.get("/v1/conversations/carl-acl").json()
    gone = carl.get("/v1/conversations/carl-gone").json()
    assert world.plan_id not in cited_docs(narrowed)
    assert world.memo_id not in cited_docs(gone)
    assert [t["role"] for t in narrowed["turns"]] == ["user", "assistant"]  # the turns remain
    assert [t["role"] for t in gone["turns"]] == ["user", "assistant"]
    # The answers drawn from them are withheld too, not only their sources.
    for detail, word in ((narrowed, PLAN_Q), (gone, MEMO_Q)):
        said = detail["turns"][1]["content"]
        assert said.startswith("(This answer is no longer shown")
        assert detail["turns"][0]["content"] == word  # the caller's own question stays
    # ann still reads her plan's citations in a conversation of her own.
    ask(ann, PLAN_Q, "ann-plan")
    assert world.plan_id in cited_docs(ann.get("/v1/conversations/ann-plan").json())


def test_the_list_is_paginated_newest_first(world: World) -> None:
    services = world.http.app.state.services  # type: ignore[attr-defined]
    store = services.conversations
    assert isinstance(store, SqlConversationStore)
    dora = new_key(world.http, user="dora", tenant="acme", role="reader")
    principal = Principal(user="dora", tenant="acme")
    for i in range(5):
        store.append(
            f"dora-{i}", principal, [Turn("user", f"question {i}"), Turn("assistant", "a")]
        )
    store.append("dora-1", principal, [Turn("user", "again"), Turn("assistant", "b")])

    pages: list[list[str]] = []
    offset: int | None = 0
    while offset is not None:
        r = dora.get("/v1/conversations", params={"limit": 2, "offset": offset})
        assert r.status_code == 200, r.text
        pages.append([c["id"] for c in r.json()["conversations"]])
        offset = r.json()["next_offset"]
    assert pages == [["dora-1", "dora-4"], ["dora-3", "dora-2"], ["dora-0"]]
    first = listed(dora)[0]
    assert (first["title"], first["turns"]) == ("question 1", 4)
    assert dora.get("/v1/conversations", params={"limit": 0}).status_code == 422
    assert dora.get("/v1/conversations", params={"limit": 101}).status_code == 422
    assert dora.get("/v1/conversations", params={"offset": 2**63}).status_code == 422
    assert dora.get("/v1/conversations", params={"offset": 100}).json() == {
        "conversations": [],
        "next_offset": None,
    }
