"""One contract for both ingest queue backends: the in-process thread and Celery on Redis.

The Celery worker runs in a thread of the test process (``start_worker``, solo pool)
over the same index and database as the test, so the points can be counted directly;
tests/api/test_queue_faults.py runs real ``deepwell worker`` processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import Principal, Settings, configured_embedding, ensure_schema, make_engine
from ingest import (
    TASK_NAME,
    CeleryJobQueue,
    DeadLetterRow,
    DocState,
    Ingestor,
    InlineParser,
    JobQueue,
    JobRow,
    Registry,
    WorkerRuntime,
    make_celery,
    set_runtime,
)
from retrieval import Embedder, Filter, MatchValue, VectorIndex, make_embedder, open_index

CALLER = Principal(user="ann", tenant="acme", groups=("finance",))
TEXT = "\n\n".join(
    f"## Section {i}\n\nThe quarterly revenue of region {i} grew by {i + 3} percent, "
    f"driven by demand for product line {i * 7} in the northern markets."
    for i in range(12)
).encode()


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    settings = Settings()
    made = make_embedder(settings, configured_embedding(settings))
    made.warm_up()
    return made


@dataclass
class Stack:
    backend: str
    settings: Settings
    engine: Engine
    index: VectorIndex
    registry: Registry
    jobs: JobQueue

    def upload(self, name: str = "report.md", data: bytes = TEXT, *, lose: bool = False) -> JobRow:
        """Submit an upload; ``lose``: its stored bytes vanish before a worker reads them."""
        from ingest import UploadBlobRow, doc_id_for

        uri = f"upload://acme/{name}"
        doc_id = doc_id_for("acme", uri)
        path = self.jobs.store_upload(doc_id, name, data)
        if lose and self.backend == "celery":
            with Session(self.engine) as s, s.begin():
                s.delete(s.get(UploadBlobRow, doc_id))
        elif lose:
            path.unlink()
        return self.jobs.submit_upload(
            CALLER,
            None,
            doc_id=doc_id,
            path=path,
            filename=name,
            source_uri=uri,
            acl=["group:finance"],
            metadata={},
        )

    def wait(self, job_id: str, timeout: float = 60.0) -> JobRow:
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            row = self.jobs.get(job_id)
            assert row is not None
            status = row.status
            if status in ("done", "failed", "cancelled"):
                return row
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {status} after {timeout} s")

    def points(self, doc_id: str) -> int:
        return self.index.count(Filter(must=[MatchValue("doc_id", doc_id)]))


@pytest.fixture(params=["inprocess", "celery"])
def stack(request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder) -> Iterator[Stack]:
    queue: dict[str, Any] = {"backend": request.param, "max_retries": 2, "retry_backoff_s": 0.05}
    if request.param == "celery":
        queue["broker_url"] = request.getfixturevalue("redis_url")
    settings = Settings(data_dir=tmp_path / "data", queue=queue)
    engine = make_engine(settings)
    ensure_schema(engine, settings)
    index = open_index(settings)
    index.ensure_collection(embedder.dim)
    registry = Registry(engine)

    def ingestor(pool: Any = None) -> Ingestor:
        return Ingestor(settings, index=index, registry=registry, embedder=embedder, pool=pool)

    if request.param == "inprocess":
        jobs: JobQueue = JobQueue(settings, engine, ingestor)
        jobs.start()
        yield Stack(request.param, settings, engine, index, registry, jobs)
        jobs.close()
    else:
        from celery.contrib.testing.worker import start_worker

        set_runtime(WorkerRuntime(settings, engine, ingestor(InlineParser(settings)), os.getpid()))
        app = make_celery(settings, worker=True)
        jobs = CeleryJobQueue(settings, engine, app)
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield Stack(request.param, settings, engine, index, registry, jobs)
        set_runtime(None)
        jobs.close()
    index.close()
    engine.dispose()


def test_an_upload_is_indexed_and_the_job_reports_it(stack: Stack) -> None:
    job = stack.wait(stack.upload().job_id)
    assert job.status == "done", job.error
    assert (job.total, job.processed, job.counts.get("indexed")) == (1, 1, 1)
    row = stack.registry.get(job.doc_id or "")
    assert row is not None
    assert row.state == DocState.indexed
    assert job.chunks == len(row.chunk_ids) == stack.points(row.doc_id) > 0


def test_running_a_document_again_never_duplicates_it(stack: Stack) -> None:
    first = stack.wait(stack.upload().job_id)
    doc_id = first.doc_id or ""
    before = stack.points(doc_id)
    if stack.backend == "celery":
        # A redelivery: the broker hands the same task (same job, same document) out again.
        assert isinstance(stack.jobs, CeleryJobQueue)
        spec = {
            "kind": "upload",
            "doc_id": doc_id,
            "filename": "report.md",
            "source_uri": "upload://acme/report.md",
            "acl": ["group:finance"],
            "metadata": {},
        }
        for _ in range(2):
            stack.jobs.app.send_task(TASK_NAME, args=[first.job_id, {**spec, "force": True}])
        time.sleep(0.2)
        deadline = time.monotonic() + 30
        while stack.jobs.app.connection().default_channel.client.llen("deepwell-ingest"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    else:
        # A crash left the job running: it is queued again and runs a second time.
        with Session(stack.engine) as s, s.begin():
            s.get(JobRow, first.job_id).status = "queued"  # type: ignore[union-attr]
        stack.jobs._wake.acquire()
        stack.jobs._wake.notify_all()
        stack.jobs._wake.release()
    again = stack.wait(stack.upload().job_id)  # and a second upload of the same bytes
    assert again.status == "done"
    assert again.counts.get("unchanged") == 1
    assert stack.points(doc_id) == before
    row = stack.registry.get(doc_id)
    assert row is not None
    assert row.state == DocState.indexed
    assert len(row.chunk_ids) == before
    job = stack.jobs.get(first.job_id)
    assert job is not None
    assert job.processed == 1


def test_a_document_that_cannot_be_read_fails_its_job(stack: Stack) -> None:
    """Celery retries it (max_retries = 2) then records a dead letter; in-process fails it."""
    job = stack.upload("lost.md", lose=True)
    done = stack.wait(job.job_id)
    assert done.status == "failed"
    assert done.error
    if stack.backend == "celery":
        with Session(stack.engine) as s:
            letters = s.scalars(select(DeadLetterRow)).all()
        assert [(d.job_id, d.attempts) for d in letters] == [(job.job_id, 3)]
        assert "upload_blobs" in letters[0].error
    assert stack.points(job.doc_id or "") == 0


def test_each_celery_app_runs_the_task_with_its_own_settings(tmp_path: Path) -> None:
    """A second app in one process (another test, another Settings) must not inherit the
    first one's task: Celery registers ``shared`` tasks into every app made afterwards."""
    first = make_celery(Settings(data_dir=tmp_path / "a", queue={"max_retries": 5}), worker=True)
    second = make_celery(Settings(data_dir=tmp_path / "b", queue={"max_retries": 1}), worker=True)
    assert first.tasks[TASK_NAME].max_retries == 5
    assert second.tasks[TASK_NAME].max_retries == 1
