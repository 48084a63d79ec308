"""Isolation: keys of other users, groups and tenants never find, read, cite or delete
each other's private documents, through any route.

One app, five keys:

========  ======  =========  ======
key       tenant  groups     role
========  ======  =========  ======
ann       acme    finance    writer
bob       acme    legal      writer
root      acme    (none)     admin
eve       globex  finance    writer   (same group *name* as ann, other tenant)
groot     globex  (none)     admin
========  ======  =========  ======

ann's document is shared with ``group:finance`` (in acme), bob's is private (the
default ACL), eve's is shared with ``group:finance`` in globex. Each carries a
unique code word, so a leak would show in any text the API returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.apikit import Client, new_key, running_app, settings_for


@dataclass
class Doc:
    owner: str
    doc_id: str
    job_id: str
    chunk_id: str
    word: str
    question: str
    answer_id: str = ""


@dataclass
class World:
    http: TestClient
    keys: dict[str, Client]
    docs: dict[str, Doc]


DOCS = {
    "ann": (
        "ann-plan.md",
        ["group:finance"],
        "zebracorn",
        "# Merger plan\n\nThe merger codename is zebracorn. The zebracorn merger closes in "
        "March and values the target at 900 million euros.\n",
        "What is the zebracorn merger codename worth?",
    ),
    "bob": (
        "bob-case.md",
        None,
        "pelicanite",
        "# Lawsuit\n\nThe pelicanite lawsuit settles for 42 million dollars. The pelicanite "
        "settlement is confidential until June.\n",
        "How much does the pelicanite lawsuit settle for?",
    ),
    "eve": (
        "eve-deal.md",
        ["group:finance"],
        "walrusoid",
        "# Acquisition\n\nThe walrusoid acquisition happens in Lisbon. The walrusoid deal "
        "costs 7 million pounds.\n",
        "Where does the walrusoid acquisition happen?",
    ),
}

#: Who may read whose document (everything else must stay invisible).
READERS = {"ann": {"ann"}, "bob": {"bob"}, "eve": {"eve"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("isolation")
    # No rate limit: the routes below are asked for every pair of keys.
    with running_app(settings_for(root / "data", rate_limit_per_minute=0)) as http:
        keys = {
            "ann": new_key(http, user="ann", groups=["finance"], tenant="acme", role="writer"),
            "bob": new_key(http, user="bob", groups=["legal"], tenant="acme", role="writer"),
            "root": new_key(http, user="root", tenant="acme", role="admin"),
            "eve": new_key(http, user="eve", groups=["finance"], tenant="globex", role="writer"),
            "groot": new_key(http, user="groot", tenant="globex", role="admin"),
        }
        docs: dict[str, Doc] = {}
        for owner, (name, acl, word, text, question) in DOCS.items():
            up = keys[owner].upload(name, text, acl=acl)
            assert up["job"]["counts"]["indexed"] == 1, up
            found = keys[owner].post("/v1/search", json={"query": word}).json()["results"]
            assert found
            assert found[0]["doc_id"] == up["doc_id"]
            docs[owner] = Doc(
                owner, up["doc_id"], up["job_id"], found[0]["chunk_id"], word, question
            )
            answer = keys[owner].post("/v1/answer", json={"question": question}).json()
            assert word in answer["answer"], answer  # ... and gets it cited
            assert answer["citations"][0]["doc_id"] == up["doc_id"]
            docs[owner].answer_id = answer["answer_id"]
            r = keys[owner].post(
                "/v1/feedback",
                json={"answer_id": answer["answer_id"], "rating": "down", "correction": word},
            )
            assert r.status_code == 201
        yield World(http, keys, docs)


def _pairs() -> list[tuple[str, str]]:
    callers = ["ann", "bob", "root", "eve", "groot"]
    return [(c, v) for v in DOCS for c in callers if c not in READERS[v]]


PAIRS = _pairs()


def _same_tenant_admin(caller: str, victim: str) -> bool:
    return (caller, victim) in {("root", "ann"), ("root", "bob"), ("groot", "eve")}


def _texts(payload: Any) -> str:
    return json.dumps(payload)


@pytest.mark.parametrize(("caller", "victim"), PAIRS)
def test_search_never_finds_others_documents(world: World, caller: str, victim: str) -> None:
    doc, client = world.docs[victim], world.keys[caller]
    for body in (
        {"query": doc.word},
        {"query": doc.question, "mode": "dense"},
        {"query": doc.word, "mode": "lexical", "limit": 100},
        {"query": doc.word, "filters": {"doc_ids": [doc.doc_id]}},  # filters only narrow
        {"query": doc.word, "expand_neighbors": 2},
    ):
        r = client.post("/v1/search", json=body)
        assert r.status_code == 200, r.text
        assert doc.word not in _texts(r.json()["results"])
        assert all(hit["doc_id"] != doc.doc_id for hit in r.json()["results"])


@pytest.mark.parametrize(("caller", "victim"), PAIRS)
def test_answers_never_cite_others_documents(world: World, caller: str, victim: str) -> None:
    doc, client = world.docs[victim], world.keys[caller]
    plain = client.post("/v1/answer", json={"question": doc.question})
    streamed = client.post("/v1/answer", json={"question": doc.question, "stream": True})
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "deepwell", "messages": [{"role": "user", "content": doc.question}]},
    )
    chat_stream = client.post(
        "/v1/chat/completions",
        json={
            "model": "deepwell",
            "stream": True,
            "messages": [{"role": "user", "content": doc.question}],
        },
    )
    for r in (plain, streamed, chat, chat_stream):
        assert r.status_code == 200, r.text
        said = r.text.replace(doc.question, "")  # the question is echoed back, as it was asked
        assert doc.word not in said
        assert doc.doc_id not in said
    assert plain.json()["no_answer"] or all(
        c["doc_id"] != doc.doc_id for c in plain.json()["context"]
    )


@pytest.mark.parametrize(("caller", "victim"), PAIRS)
def test_documents_routes_answer_404_for_others_documents(
    world: World, caller: str, victim: str
) -> None:
    doc, client = world.docs[victim], world.keys[caller]
    for params in (
        {"limit": 500},
        {"q": DOCS[victim][0]},  # its file name
        {"q": doc.word},
        {"type": "md", "state": "ready"},
    ):
        listed = client.get("/v1/documents", params=params)
        assert listed.status_code == 200, listed.text
        assert doc.doc_id not in listed.text
        assert doc.word not in listed.text
    job = client.get(f"/v1/jobs/{doc.job_id}")
    jobs = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
    if _same_tenant_admin(caller, victim):  # an admin follows its tenant's jobs
        assert job.status_code == 200
        assert doc.word not in job.text  # status and counts, never content
        assert doc.job_id in {j["job_id"] for j in jobs}
    else:
        assert job.status_code == 404
        assert doc.job_id not in {j["job_id"] for j in jobs}
    for r in (
        client.get(f"/v1/documents/{doc.doc_id}"),
        client.get(f"/v1/documents/{doc.doc_id}/chunks/{doc.chunk_id}"),
        client.get(f"/v1/documents/{doc.doc_id}/file"),
        client.delete(f"/v1/documents/{doc.doc_id}"),
    ):
        assert r.status_code == 404, (r.request.url, r.text)
        assert r.json()["error"]["code"] == "not_found"
        assert doc.word not in r.text
    # Still there for its owner.
    owner = world.keys[doc.owner]
    assert owner.get(f"/v1/documents/{doc.doc_id}").status_code == 200
    assert owner.get(f"/v1/documents/{doc.doc_id}/chunks/{doc.chunk_id}").json()["text"]
    assert doc.word in owner.get(f"/v1/documents/{doc.doc_id}/file").text
    assert doc.job_id in {j["job_id"] for j in owner.get("/v1/jobs").json()["jobs"]}


@pytest.mark.parametrize("caller", ["ann", "bob", "eve"])
def test_admin_routes_answer_403_to_other_roles(world: World, caller: str) -> None:
    client = world.keys[caller]
    reader = new_key(world.http, user=f"{caller}-reader", tenant="acme", role="reader")
    for who in (client, reader):
        for path in ("/v1/jobs/dead-letters", "/v1/admin/audit", "/v1/eval/report"):
            r = who.get(path)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "permission_denied"


def test_each_sees_only_its_own_jobs_and_admins_their_tenants(world: World) -> None:
    owners = {doc.job_id: doc.owner for doc in world.docs.values()}
    tenant = {"ann": "acme", "bob": "acme", "eve": "globex", "root": "acme", "groot": "globex"}
    for name, client in world.keys.items():
        jobs = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
        seen = {j["job_id"] for j in jobs} & set(owners)
        if name in ("root", "groot"):  # admins: their tenant's
            expected = {j for j, o in owners.items() if tenant[o] == tenant[name]}
        else:
            expected = {j for j, o in owners.items() if o == name}
        assert seen == expected, name
        assert all(j["tenant"] == tenant[name] for j in jobs)
        assert all(j["user"] == name for j in jobs) or name in ("root", "groot")


@pytest.mark.parametrize(("caller", "victim"), PAIRS)
def test_feedback_and_export_stay_with_their_owner(world: World, caller: str, victim: str) -> None:
    doc, client = world.docs[victim], world.keys[caller]
    r = client.post("/v1/feedback", json={"answer_id": doc.answer_id, "rating": "up"})
    assert r.status_code == 404
    for kind in ("sft", "preference"):
        r = client.get("/v1/feedback/export", params={"kind": kind})
        assert r.status_code == 200
        if not _same_tenant_admin(caller, victim):
            assert doc.word not in r.text
            assert doc.answer_id not in r.text


def test_an_admin_exports_its_tenant_only(world: World) -> None:
    root, groot = world.keys["root"], world.keys["groot"]
    # Roles never widen reads: root reads neither ann's finance document nor bob's.
    mine = root.get("/v1/feedback/export", params={"kind": "sft"}).text
    assert world.docs["ann"].answer_id not in mine
    assert world.docs["bob"].answer_id not in mine
    theirs = root.get("/v1/feedback/export", params={"tenant": "globex"})
    assert theirs.status_code == 403
    assert world.docs["eve"].answer_id not in groot.get("/v1/feedback/export").text
    # An admin of acme in the finance group exports ann's feedback, never globex's.
    fin = new_key(world.http, user="finroot", groups=["finance"], tenant="acme", role="admin")
    exported = fin.get("/v1/feedback/export", params={"kind": "sft"}).text
    assert world.docs["ann"].answer_id in exported
    assert world.docs["bob"].answer_id not in exported
    assert world.docs["eve"].answer_id not in exported


def test_a_reader_exports_only_its_own_feedback(world: World) -> None:
    ann = world.keys["ann"]
    text = ann.get("/v1/feedback/export", params={"kind": "sft"}).text
    lines = [json.loads(line) for line in text.splitlines()]
    assert {line["answer_id"] for line in lines} == {world.docs["ann"].answer_id}


def test_conversation_ids_are_private(world: World) -> None:
    ann, bob = world.keys["ann"], world.keys["bob"]
    cid = "shared-id-1"
    first = ann.post(
        "/v1/answer", json={"question": world.docs["ann"].question, "conversation_id": cid}
    )
    assert first.status_code == 200
    # bob continues "the same" conversation: he gets his own, empty one, and no rewrite
    # with ann's topic words.
    follow = bob.post("/v1/answer", json={"question": "and when?", "conversation_id": cid})
    assert follow.status_code == 200
    assert follow.json()["query"] == "and when?"
    assert "zebracorn" not in follow.text


def test_same_file_name_from_two_users_are_two_documents(world: World) -> None:
    ann, bob = world.keys["ann"], world.keys["bob"]
    a = ann.upload("notes.md", "# Notes\n\nAnn keeps her quokkaberry notes here, privately.\n")
    b = bob.upload("notes.md", "# Notes\n\nBob keeps his lemurine notes here, privately.\n")
    assert a["doc_id"] != b["doc_id"]
    seen = bob.post("/v1/search", json={"query": "quokkaberry"}).json()["results"]
    assert a["doc_id"] not in {hit["doc_id"] for hit in seen}
    found = ann.post("/v1/search", json={"query": "quokkaberry"}).json()["results"]
    assert found[0]["doc_id"] == a["doc_id"]


def test_admin_role_does_not_widen_reads(world: World) -> None:
    root = world.keys["root"]
    bob_doc = world.docs["bob"]
    assert root.get(f"/v1/documents/{bob_doc.doc_id}").status_code == 404
    assert root.delete(f"/v1/documents/{bob_doc.doc_id}").status_code == 404
    seen = root.post("/v1/search", json={"query": bob_doc.word}).json()["results"]
    assert bob_doc.doc_id not in {hit["doc_id"] for hit in seen}


def test_a_group_member_reads_a_group_document(world: World, tmp_path: Path) -> None:
    # A second finance member of acme reads ann's document; a finance member of globex does not.
    carol = new_key(world.http, user="carol", groups=["finance"], tenant="acme", role="reader")
    ann_doc = world.docs["ann"]
    found = carol.post("/v1/search", json={"query": ann_doc.word}).json()["results"]
    assert found[0]["doc_id"] == ann_doc.doc_id
    assert carol.get(f"/v1/documents/{ann_doc.doc_id}").status_code == 200
    # ... but a reader cannot delete it.
    r = carol.delete(f"/v1/documents/{ann_doc.doc_id}")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"


def test_delete_removes_a_document_everywhere(world: World) -> None:
    bob = world.keys["bob"]
    up = bob.upload("tmp.md", "# Temp\n\nThe okapinator memo is temporary and will be deleted.\n")
    chunk = bob.post("/v1/search", json={"query": "okapinator"}).json()["results"][0]
    assert bob.delete(f"/v1/documents/{up['doc_id']}").status_code == 204
    seen = bob.post("/v1/search", json={"query": "okapinator"}).json()["results"]
    assert up["doc_id"] not in {hit["doc_id"] for hit in seen}
    assert bob.get(f"/v1/documents/{up['doc_id']}").status_code == 404
    r = bob.get(f"/v1/documents/{up['doc_id']}/chunks/{chunk['chunk_id']}")
    assert r.status_code == 404
