"""The service end to end in the scaled configuration: PostgreSQL + Redis + Celery + the
``qdrant`` index backend (qdrant-client).

The flow of tests/api/test_e2e.py — key → upload → ingest job → cited answer → feedback
→ export — with every tier swapped for its scaled counterpart: the database is a real
PostgreSQL (testkit.pgserver), the queue is Celery on a real Redis
(testkit.redisserver), and the index is the ``qdrant`` backend through qdrant-client.

Why one process: without ``QDRANT_URL`` the ``qdrant`` backend runs in qdrant-client's
local mode (``index.local_path``), which, like the embedded engine, holds an exclusive
lock on its directory, so the API and a ``deepwell worker`` process cannot both open it.
The API app (in-process, ``TestClient``: the ASGI app with its real lifespan) and a
Celery worker (``start_worker`` in a thread, solo pool, as tests/api/test_queue_contract.py
does) therefore share one :class:`~api.services.Services` and its index. Everything
between them still crosses the real servers: the upload's bytes go through PostgreSQL
(``upload_blobs``), the task through Redis, progress through the job row. Against a live
Qdrant server (``index.url``) the worker would be a separate ``deepwell worker`` process,
as in tests/api/test_queue_faults.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from core import Settings
from ingest import CeleryJobQueue, Ingestor, InlineParser, WorkerRuntime, make_celery, set_runtime
from retrieval import Filter, MatchValue
from tests.api.apikit import STORAGE_MD, Client, new_key

if TYPE_CHECKING:  # the fixtures come from tests/conftest.py
    from testkit import PostgresServer, RedisServer

QUESTION = "How much does hot storage cost?"


@pytest.fixture(scope="module")
def scaled(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
) -> Iterator[TestClient]:
    """The app on PostgreSQL, Redis/Celery and qdrant-client, and a worker thread."""
    from celery.contrib.testing.worker import start_worker

    root = tmp_path_factory.mktemp("scaled")
    settings = Settings(
        data_dir=root / "data",
        llm={"backend": "extractive"},
        log_level="warning",
        database={"url": postgres_server.create_database()},
        index={"backend": "qdrant", "local_path": root / "qdrant"},
        queue={"backend": "celery", "broker_url": redis_server.url, "retry_backoff_s": 0.1},
        api={"rate_limit_per_minute": 0},
    )
    services = Services.start(settings)
    worker_app = make_celery(settings, worker=True)
    ingestor = Ingestor(  # the worker's: parses inline in its own thread, as a worker does
        settings,
        index=services.index,
        registry=services.registry,
        embedder=services.embedder,
        pool=InlineParser(settings),
    )
    set_runtime(WorkerRuntime(settings, services.engine, ingestor, os.getpid()))
    try:
        with (
            start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30),
            TestClient(create_app(settings, services)) as client,
        ):
            yield client
    finally:
        set_runtime(None)
        worker_app.close()
        services.close()


@pytest.fixture(scope="module")
def writer(scaled: TestClient) -> Client:
    return new_key(scaled, user="ann", groups=["ops"], role="writer")


def test_scaled_upload_ingest_answer_feedback_export(scaled: TestClient, writer: Client) -> None:
    services: Services = scaled.app.state.services  # type: ignore[attr-defined]
    backends = services.backends()
    assert backends["database"]["backend"] == "postgresql"
    assert backends["index"]["backend"] == "qdrant"
    assert isinstance(services.jobs, CeleryJobQueue)

    uploaded = writer.upload("storage.md", STORAGE_MD, metadata='{"kind": "manual"}')
    job = uploaded["job"]
    assert job["status"] == "done"
    assert job["counts"]["indexed"] == 1
    assert job["chunks"] >= 1
    doc_id = uploaded["doc_id"]
    doc = writer.get(f"/v1/documents/{doc_id}").json()
    assert doc["state"] == "ready"
    assert doc["metadata"] == {"kind": "manual"}
    assert doc["acl"] == ["user:ann"]
    # The worker thread wrote the points into the index the API searches.
    assert services.index.count(Filter(must=[MatchValue("doc_id", doc_id)])) == job["chunks"]

    r = writer.post("/v1/answer", json={"question": QUESTION, "conversation_id": "conv-1"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert "2 cents" in answer["answer"]
    assert "[1]" in answer["answer"]
    cited = answer["citations"][0]
    assert cited["doc_id"] == doc_id
    assert cited["source_uri"] == "upload://default/ann/storage.md"
    passage = writer.get(f"/v1/documents/{doc_id}/chunks/{cited['chunk_id']}")
    assert passage.status_code == 200
    assert "Hot storage costs 2 cents" in passage.json()["text"]

    fb = writer.post(
        "/v1/feedback", json={"answer_id": answer["answer_id"], "rating": "up", "comment": "ok"}
    )
    assert fb.status_code == 201
    export = writer.get("/v1/feedback/export", params={"kind": "sft"})
    assert export.status_code == 200
    records = [json.loads(line) for line in export.text.splitlines()]
    mine = [x for x in records if x["answer_id"] == answer["answer_id"]]
    assert len(mine) == 1
    assert mine[0]["question"] == QUESTION
    assert "Hot storage costs 2 cents" in mine[0]["context"]

    follow = writer.post("/v1/answer", json={"question": "and cold?", "conversation_id": "conv-1"})
    assert follow.status_code == 200
    assert "storage" in follow.json()["query"].lower()  # history from PostgreSQL


def test_scaled_parallel_uploads_all_indexed_once(scaled: TestClient, writer: Client) -> None:
    jobs = [
        writer.upload(
            f"note-{i}.md",
            f"# Note {i}\n\n" + " ".join(f"Fact {j} of note {i}." for j in range(60)),
            wait=False,
        )
        for i in range(4)
    ]
    services: Services = scaled.app.state.services  # type: ignore[attr-defined]
    for body in jobs:
        job = writer.wait_job(body["job_id"], timeout=90)
        assert job["status"] == "done", job
        points = services.index.count(Filter(must=[MatchValue("doc_id", body["doc_id"])]))
        assert points == job["chunks"] > 0
    hits = writer.post("/v1/search", json={"query": "Fact 7 of note 2"}).json()["results"]
    assert hits
    assert hits[0]["doc_id"] == jobs[2]["doc_id"]


def test_health_reports_the_scaled_backends(scaled: TestClient) -> None:
    admin = new_key(scaled, user="root", role="admin")
    health = admin.get("/v1/admin/health").json()["backends"]
    assert health["database"]["backend"] == "postgresql"
    assert (health["index"]["backend"], health["index"]["local_mode"]) == ("qdrant", True)
    ready = scaled.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
