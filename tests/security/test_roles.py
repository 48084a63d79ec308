"""Roles never widen reads: feedback exports, key creation and deletion, replayed as attacks.

Findings of issue 12 (each test below failed on the code before the fix):

- 2: a tenant admin read another user's private passages through
  ``GET /v1/feedback/export``, and the text stayed exportable after the document was deleted;
- 3: a tenant admin minted a key for an existing user (``{"user": "alice", "groups":
  ["finance"]}``) and read her private documents with it;
- 4: any writer deleted any document it could read, public ones of other users included,
  and nothing recorded it.

Then a property: for random principals and roles over documents with many ACLs, nothing any
route returns — search, answers, chat, documents, passages, feedback exports, and keys an
admin creates — holds text of a document the caller's own search cannot return.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.apikit import Client, new_key, running_app, settings_for

#: (owner, file name, ACL asked for, code word). Upload adds the owner to every ACL.
DOCS = [
    ("alice", "alice-private.md", None, "quasarine"),
    ("alice", "alice-finance.md", ["group:finance"], "gloriette"),
    ("alice", "alice-public.md", ["*"], "marmoset"),
    ("alice", "alice-for-dora.md", ["user:dora"], "tamarind"),
    ("bob", "bob-private.md", None, "zeppelina"),
    ("bob", "bob-legal.md", ["group:legal"], "obsidian"),
    ("bob", "bob-public.md", ["*"], "capybara"),
    ("eve", "eve-finance.md", ["group:finance"], "walrusoid"),
    ("eve", "eve-public.md", ["*"], "narwhalic"),
]
WORDS = [d[3] for d in DOCS]

#: (name, tenant, groups, role)
PEOPLE = [
    ("alice", "acme", ["finance"], "writer"),
    ("bob", "acme", ["legal"], "writer"),
    ("root", "acme", [], "admin"),
    ("finadmin", "acme", ["finance"], "admin"),
    ("carol", "acme", ["finance"], "reader"),
    ("eve", "globex", ["finance"], "writer"),
    ("groot", "globex", [], "admin"),
]


def text_of(word: str) -> str:
    return (
        f"# Memo {word}\n\nThe {word} programme budget is 41 million euros. "
        f"The {word} review is due in May.\n"
    )


def question_of(word: str) -> str:
    return f"What is the {word} programme budget?"


@dataclass
class World:
    http: TestClient
    keys: dict[str, Client]
    doc_ids: dict[str, str] = field(default_factory=dict)  # word -> doc_id
    chunk_ids: dict[str, str] = field(default_factory=dict)  # word -> a chunk id
    answer_ids: dict[str, str] = field(default_factory=dict)  # word -> answer rated up


def words_in(text: str) -> set[str]:
    return {w for w in WORDS if w in text}


def reach(client: Client) -> set[str]:
    """The code words of every document the client's own search returns."""
    found: set[str] = set()
    for word in WORDS:
        r = client.post("/v1/search", json={"query": word, "mode": "lexical", "limit": 100})
        assert r.status_code == 200, r.text
        found |= words_in(json.dumps(r.json()["results"]))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("roles")
    # No rate limit: the property below makes hundreds of requests per key.
    with running_app(settings_for(root / "data", rate_limit_per_minute=0)) as http:
        keys = {
            name: new_key(http, user=name, tenant=tenant, groups=groups, role=role)
            for name, tenant, groups, role in PEOPLE
        }
        w = World(http, keys)
        for owner, name, acl, word in DOCS:
            up = keys[owner].upload(name, text_of(word), acl=acl)
            assert up["job"]["counts"]["indexed"] == 1, up
            w.doc_ids[word] = up["doc_id"]
            hits = keys[owner].post("/v1/search", json={"query": word, "mode": "lexical"})
            w.chunk_ids[word] = hits.json()["results"][0]["chunk_id"]
            # The owner asks about it and rates the answer up: feedback now holds its text.
            answer = keys[owner].post("/v1/answer", json={"question": question_of(word)}).json()
            assert word in json.dumps(answer["context"]), answer
            r = keys[owner].post(
                "/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "up"}
            )
            assert r.status_code == 201, r.text
            w.answer_ids[word] = answer["answer_id"]
        yield w


def export(client: Client, kind: str = "sft") -> str:
    r = client.get("/v1/feedback/export", params={"kind": kind})
    assert r.status_code == 200, r.text
    return r.text


# --- finding 2: exports carry only what the exporter may read now -----------------------


def test_a_tenant_admin_does_not_export_private_passages(world: World) -> None:
    root, finadmin = world.keys["root"], world.keys["finadmin"]
    # Every answer of the owners read some private passage: none reaches root's export.
    exported = export(root)
    for word in ("quasarine", "zeppelina", "gloriette", "obsidian", "tamarind"):
        assert word not in exported
    assert not any(world.answer_ids[w] in exported for w in WORDS)
    # pat reads only public documents: feedback on pat's answer is root's to export.
    pat = new_key(world.http, user="pat", tenant="acme", role="reader")
    answer = pat.post("/v1/answer", json={"question": question_of("marmoset")}).json()
    assert words_in(json.dumps(answer["context"])) == {"marmoset", "capybara"}
    pat.post("/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "up"})
    assert answer["answer_id"] in export(root)
    assert answer["answer_id"] in export(finadmin)
    # Every export is what the exporter's own search can return.
    for name in ("root", "finadmin", "groot"):
        for kind in ("sft", "preference"):
            assert words_in(export(world.keys[name], kind)) <= reach(world.keys[name])


def test_a_deleted_document_leaves_every_export(world: World) -> None:
    alice, carol, finadmin = world.keys["alice"], world.keys["carol"], world.keys["finadmin"]
    up = alice.upload("alice-temp.md", text_of("okapinator"), acl=["group:finance"])
    answer = carol.post("/v1/answer", json={"question": question_of("okapinator")}).json()
    assert "okapinator" in json.dumps(answer["context"])
    carol.post(
        "/v1/feedback",
        json={"answer_id": answer["answer_id"], "rating": "down", "correction": "okapinator"},
    )
    assert "okapinator" in export(carol)
    assert "okapinator" in export(finadmin)
    assert alice.delete(f"/v1/documents/{up['doc_id']}").status_code == 204
    for client in (carol, finadmin):
        for kind in ("sft", "preference"):
            assert "okapinator" not in export(client, kind)


# --- finding 3: key creation cannot mint more reach -------------------------------------


def test_an_admin_cannot_become_an_existing_user(world: World) -> None:
    root = world.keys["root"]
    r = root.post("/v1/keys", json={"user": "alice", "groups": ["finance"]})
    assert r.status_code == 403, r.text
    assert "already has an identity" in r.json()["error"]["message"]
    assert "key" not in r.json()


@pytest.mark.parametrize(
    ("admin", "body", "reason"),
    [
        ("root", {"user": "newbie", "groups": ["finance"]}, "not yours to grant"),
        ("root", {"user": "dora"}, "shared with user:dora"),  # alice shared a doc with dora
        ("finadmin", {"user": "frank", "groups": ["finance", "legal"]}, "legal"),
        ("root", {"user": "user:alice"}, "already has an identity"),
    ],
)
def test_an_admin_cannot_grant_what_it_cannot_read(
    world: World, admin: str, body: dict[str, object], reason: str
) -> None:
    r = world.keys[admin].post("/v1/keys", json=body)
    assert r.status_code == 403, r.text
    assert reason in r.json()["error"]["message"]


def test_a_key_made_within_reach_reads_no_more_than_its_maker(world: World) -> None:
    finadmin = world.keys["finadmin"]
    r = finadmin.post("/v1/keys", json={"user": "frank", "groups": ["finance"], "role": "writer"})
    assert r.status_code == 201, r.text
    frank = Client(world.http, r.json()["key"])
    assert reach(frank) == {"gloriette", "marmoset", "capybara"} <= reach(finadmin)


def test_the_operator_may_allow_any_key(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    services = world.http.app.state.services  # type: ignore[attr-defined]
    monkeypatch.setattr(services.settings.api, "key_delegation", "any")
    r = world.keys["root"].post("/v1/keys", json={"user": "dora", "groups": []})
    assert r.status_code == 201, r.text
    audit = world.keys["root"].get("/v1/admin/audit").json()["events"]
    made = [e for e in audit if e["action"] == "key_created" and e["detail"]["user"] == "dora"]
    assert made
    assert made[0]["detail"]["policy"] == "any"


# --- finding 4: ownership for changes, and a record of them -----------------------------


def test_a_writer_cannot_delete_another_users_public_document(world: World) -> None:
    bob, alice = world.keys["bob"], world.keys["alice"]
    target = world.doc_ids["marmoset"]  # alice's, public: bob can read it
    assert bob.get(f"/v1/documents/{target}").status_code == 200
    r = bob.delete(f"/v1/documents/{target}")
    assert r.status_code == 403, r.text
    assert "owner" in r.json()["error"]["message"]
    assert alice.get(f"/v1/documents/{target}").status_code == 200
    # A same-group writer cannot delete the group's document either.
    eve_doc = world.doc_ids["walrusoid"]
    other = new_key(world.http, user="ezra", tenant="globex", groups=["finance"], role="writer")
    assert other.delete(f"/v1/documents/{eve_doc}").status_code == 403


def test_owners_and_tenant_admins_delete_and_it_is_recorded(world: World) -> None:
    bob, root = world.keys["bob"], world.keys["root"]
    mine = bob.upload("bob-scratch.md", text_of("pangolite"), acl=["*"])
    public = bob.upload("bob-scratch2.md", text_of("axolotine"), acl=["*"])
    assert bob.delete(f"/v1/documents/{mine['doc_id']}").status_code == 204
    assert root.delete(f"/v1/documents/{public['doc_id']}").status_code == 204
    events = root.get("/v1/admin/audit").json()["events"]
    deleted = {e["target"]: e for e in events if e["action"] == "document_deleted"}
    assert deleted[mine["doc_id"]]["user"] == "bob"
    assert deleted[public["doc_id"]]["user"] == "root"
    assert deleted[public["doc_id"]]["detail"]["owner"] == "bob"
    assert "pangolite" not in json.dumps(events)  # the trail names objects, never their text
    assert world.keys["bob"].get("/v1/admin/audit").status_code == 403
    theirs = world.keys["groot"].get("/v1/admin/audit").json()["events"]
    assert not {e["target"] for e in theirs} & set(deleted)  # each tenant sees its own trail


# --- the property -------------------------------------------------------------------------

USERS = ("alice", "bob", "carol", "dora", "zed", "root")
GROUPS = ("finance", "legal", "ops")


@st.composite
def principals(draw: st.DrawFn) -> dict[str, object]:
    return {
        "user": draw(st.sampled_from(USERS)),
        "groups": draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=2)),
        "tenant": draw(st.sampled_from(("acme", "globex"))),
        "role": draw(st.sampled_from(("reader", "writer", "admin"))),
    }


def _everything_a_caller_sees(world: World, client: Client) -> str:
    """The text of every read route's answer for this caller, over every document."""
    out: list[str] = []
    for word in WORDS:
        doc_id, chunk_id = world.doc_ids[word], world.chunk_ids[word]
        for body in ({"query": word}, {"query": word, "filters": {"doc_ids": [doc_id]}}):
            r = client.post("/v1/search", json=body)
            out.append(json.dumps(r.json()["results"]))  # not the query it echoes
        out += [
            client.get(f"/v1/documents/{doc_id}").text,
            client.get(f"/v1/documents/{doc_id}/chunks/{chunk_id}").text,
            client.get(f"/v1/documents/{doc_id}/file").text,  # the original bytes
            client.get("/v1/documents", params={"q": word}).text,  # in its title
        ]
    question = "What are the programme budgets of " + ", ".join(WORDS) + "?"
    answer = client.post("/v1/answer", json={"question": question, "conversation_id": "probe"})
    out.append(answer.text.replace(question, ""))
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "deepwell", "messages": [{"role": "user", "content": question}]},
    )
    out.append(chat.text.replace(question, ""))
    out.append(client.get("/v1/documents", params={"limit": 500}).text)
    out.append(client.get("/v1/documents", params={"type": "md", "state": "ready"}).text)
    out += [export(client, "sft"), export(client, "preference")]
    listed = client.get("/v1/conversations", params={"limit": 100}).json()["conversations"]
    for conversation in listed:
        detail = client.get(f"/v1/conversations/{conversation['id']}").json()
        out.append(json.dumps([t for t in detail["turns"] if t["role"] == "assistant"]))
    return "\n".join(out)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(who=principals(), grant=principals())
def test_no_route_returns_what_the_callers_search_cannot(
    world: World, who: dict[str, object], grant: dict[str, object]
) -> None:
    client = new_key(world.http, **who)  # type: ignore[arg-type]
    own = reach(client)
    seen = words_in(_everything_a_caller_sees(world, client))
    assert seen <= own, f"{who} saw {sorted(seen - own)} beyond its own search {sorted(own)}"
    # Jobs: its tenant's, and only its user's unless it is an admin; admin routes 403 else.
    jobs = client.get("/v1/jobs", params={"limit": 200}).json()["jobs"]
    assert {j["tenant"] for j in jobs} <= {who["tenant"]}
    if who["role"] != "admin":
        assert {j["user"] for j in jobs} <= {who["user"]}
        assert client.get("/v1/jobs/dead-letters").status_code == 403
    # The ACL of a document shows to its owner and its tenant's admins only.
    for doc in client.get("/v1/documents", params={"limit": 500}).json()["documents"]:
        if doc["acl"] is not None:
            assert who["role"] == "admin" or doc["owner"] == who["user"], (who, doc)
    # Whatever key it manages to create reads nothing beyond it either.
    r = client.post(
        "/v1/keys",
        json={"user": grant["user"], "groups": grant["groups"], "role": grant["role"]},
    )
    if who["role"] != "admin":
        assert r.status_code == 403
        return
    assert r.status_code in (201, 403), r.text
    if r.status_code == 201:
        made = Client(world.http, r.json()["key"])
        assert reach(made) <= own
        assert words_in(_everything_a_caller_sees(world, made)) <= own


def test_key_names_in_errors_never_echo_secrets(world: World) -> None:
    r = world.keys["root"].post("/v1/keys", json={"user": "alice"})
    assert not re.search(r"dw_[A-Za-z0-9_-]{20,}", r.text)


def test_the_world_is_what_the_tests_assume(world: World) -> None:
    # Guards the property against passing by finding nothing.
    assert reach(world.keys["alice"]) == {
        "quasarine",
        "gloriette",
        "marmoset",
        "tamarind",
        "capybara",
    }
    assert reach(world.keys["root"]) == {"marmoset", "capybara"}
    assert reach(world.keys["eve"]) == {"walrusoid", "narwhalic"}
