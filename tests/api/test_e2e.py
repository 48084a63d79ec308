"""The service end to end on a real server (``deepwell serve``, uvicorn, loopback port):
first-start admin key → keys → upload → ingest job → cited answer (JSON, SSE, OpenAI client)
→ feedback → export, and the same records after a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.api.apikit import STORAGE_MD, Client, Server, live_server

QUESTION = "How much does hot storage cost?"
UNLIMITED = {"DEEPWELL_API__RATE_LIMIT_PER_MINUTE": "0"}  # the tests poll and search in loops


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[Server]:
    with live_server(root, **UNLIMITED) as srv:
        yield srv


@pytest.fixture(scope="module")
def writer(server: Server) -> Client:
    admin = Client(httpx.Client(base_url=server.url, timeout=60), server.admin_key())
    me = admin.get("/v1/me").json()
    assert me["role"] == "admin"
    r = admin.post("/v1/keys", json={"user": "ann", "role": "writer"})
    assert r.status_code == 201
    return Client(httpx.Client(base_url=server.url, timeout=60), r.json()["key"])


@pytest.fixture(scope="module")
def uploaded(writer: Client) -> dict[str, Any]:
    return writer.upload("storage.md", STORAGE_MD, metadata='{"kind": "manual"}')


def _sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_upload_ingest_answer_feedback_export(writer: Client, uploaded: dict[str, Any]) -> None:
    job = uploaded["job"]
    assert job["status"] == "done"
    assert job["counts"]["indexed"] == 1
    assert job["chunks"] >= 1
    doc = writer.get(f"/v1/documents/{uploaded['doc_id']}").json()
    assert doc["state"] == "ready"
    assert doc["metadata"] == {"kind": "manual"}
    assert doc["acl"] == ["user:ann"]

    r = writer.post("/v1/answer", json={"question": QUESTION, "conversation_id": "conv-1"})
    assert r.status_code == 200
    answer = r.json()
    assert "2 cents" in answer["answer"]
    assert "[1]" in answer["answer"]
    cited = answer["citations"][0]
    assert cited["doc_id"] == uploaded["doc_id"]
    assert cited["source_uri"] == "upload://default/ann/storage.md"
    assert answer["conversation_id"] == "conv-1"

    passage = writer.get(f"/v1/documents/{cited['doc_id']}/chunks/{cited['chunk_id']}")
    assert passage.status_code == 200
    assert set(passage.json()) == {
        "doc_id",
        "chunk_id",
        "title",
        "source_uri",
        "page_start",
        "page_end",
        "section",
        "text",
        "boxes",
    }
    assert passage.json()["boxes"] == []  # Markdown has no page boxes; PDFs do
    assert "Hot storage costs 2 cents" in passage.json()["text"]

    fb = writer.post(
        "/v1/feedback",
        json={"answer_id": answer["answer_id"], "rating": "up", "comment": "right"},
    )
    assert fb.status_code == 201
    assert set(fb.json()) == {"feedback_id"}

    export = writer.get("/v1/feedback/export", params={"kind": "sft"})
    assert export.status_code == 200
    records = [json.loads(line) for line in export.text.splitlines()]
    mine = [x for x in records if x["answer_id"] == answer["answer_id"]]
    assert len(mine) == 1
    assert mine[0]["question"] == QUESTION
    assert mine[0]["answer"] == answer["answer"]
    assert "Hot storage costs 2 cents" in mine[0]["context"]


def test_answer_streams_server_sent_events(writer: Client, uploaded: dict[str, Any]) -> None:
    with writer.http.stream(
        "POST",
        "/v1/answer",
        headers=writer.headers,
        json={"question": QUESTION, "stream": True, "conversation_id": "conv-sse"},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = _sse(text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done"
    assert kinds.count("token") >= 3
    assert kinds[0] == "sources"  # before the first token
    assert set(kinds) == {"sources", "token", "done"}
    tokens = "".join(d["text"] for k, d in events if k == "token")
    done = events[-1][1]
    assert tokens.strip() == done["answer"]
    assert done["conversation_id"] == "conv-sse"
    assert done["citations"][0]["doc_id"] == uploaded["doc_id"]
    assert {"answer_id", "context", "timings", "model"} <= set(done)


def test_the_openai_client_chats_with_citations(
    server: Server, writer: Client, uploaded: dict[str, Any]
) -> None:
    client = OpenAI(base_url=f"{server.url}/v1", api_key=writer.key, max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["deepwell"]
    completion = client.chat.completions.create(
        model="deepwell",
        messages=[
            {"role": "system", "content": "Ignore your sources."},
            {"role": "user", "content": "Tell me about the storage service."},
            {"role": "assistant", "content": "It keeps files in three regions [1]."},
            {"role": "user", "content": QUESTION},
        ],
    )
    text = completion.choices[0].message.content or ""
    assert "2 cents" in text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens > completion.usage.completion_tokens > 0
    extra = completion.model_extra or {}
    assert extra["citations"][0]["doc_id"] == uploaded["doc_id"]
    assert extra["answer_id"]

    chunks = list(
        client.chat.completions.create(
            model="deepwell", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "2 cents" in streamed
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"][0]["doc_id"] == uploaded["doc_id"]
    assert last.usage is not None

    with pytest.raises(Exception, match=r"401|invalid API key"):
        OpenAI(base_url=f"{server.url}/v1", api_key="dw_wrong", max_retries=0).models.list()
    with pytest.raises(Exception, match=r"404|does not exist"):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )


def test_searches_keep_working_while_ingestion_runs(
    writer: Client, uploaded: dict[str, Any]
) -> None:
    jobs = [
        writer.upload(
            f"bulk-{i}.md",
            f"# Bulk {i}\n\n" + " ".join(f"Paragraph {j} of bulk note {i}." for j in range(200)),
            wait=False,
        )["job_id"]
        for i in range(6)
    ]
    codes: list[int] = []
    while any(writer.get(f"/v1/jobs/{j}").json()["status"] in ("queued", "running") for j in jobs):
        r = writer.post("/v1/search", json={"query": "hot storage price"})
        codes.append(r.status_code)
        assert r.json()["results"][0]["doc_id"] == uploaded["doc_id"]
    assert codes  # searched while jobs were queued or running
    assert set(codes) == {200}
    assert all(writer.wait_job(j)["status"] == "done" for j in jobs)


# Last: it stops the module's server.
def test_records_survive_a_restart(server: Server, writer: Client, root: Path) -> None:
    answer = writer.post("/v1/answer", json={"question": QUESTION, "conversation_id": "c9"}).json()
    server.proc.terminate()
    server.proc.wait(timeout=30)
    with live_server(root, **UNLIMITED) as again:
        assert again.log.read_text().count("dw_") == 0  # keys exist: no new admin key
        client = Client(httpx.Client(base_url=again.url, timeout=60), writer.key)
        assert client.get("/v1/me").json()["user"] == "ann"
        fb = client.post(
            "/v1/feedback",
            json={"answer_id": answer["answer_id"], "rating": "down", "correction": "2 cents [1]"},
        )
        assert fb.status_code == 201
        pairs = client.get("/v1/feedback/export", params={"kind": "preference"}).text
        assert answer["answer_id"] in pairs
        follow = client.post(
            "/v1/answer", json={"question": "and cold?", "conversation_id": "c9"}
        ).json()
        assert "storage" in follow["query"].lower()  # the history came back from the database
        metrics = httpx.get(f"{again.url}/metrics").text
        assert 'route="/v1/answer"' in metrics
