"""A job that keeps crashing the server is not run on every restart for ever, and a failed
upload's bytes do not stay on disk."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import Principal, Settings, make_engine
from ingest import (
    DeadLetterRow,
    DocOutcome,
    DocState,
    IngestSummary,
    JobQueue,
    JobRow,
    Registry,
    SourceDocument,
    doc_id_for,
)

MAX_RETRIES = 2


class Recorder:
    """Stands in for the ingestor: records names, fails those with "bad" in them (and
    records the failure in the registry, as the real one does)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.on_outcome: Any = None
        self.seen: list[str] = []

    def run(self, sources: Iterable[SourceDocument], **_: Any) -> IngestSummary:
        summary = IngestSummary()
        for doc in sources:
            self.seen.append(doc.filename)
            bad = "bad" in doc.filename
            if bad:
                self.registry.upsert(doc.doc_id, state=DocState.failed, error="cannot parse")
            outcome = DocOutcome(
                doc.doc_id, doc.source_uri, "failed" if bad else "indexed", error="cannot parse"
            )
            summary.outcomes.append(outcome)
            if self.on_outcome:
                self.on_outcome(outcome)
        return summary

    def close(self) -> None:
        pass


def _queue(root: Path, **api: Any) -> tuple[JobQueue, Recorder, Registry]:
    settings = Settings(data_dir=root, queue={"max_retries": MAX_RETRIES}, api=api)
    engine = make_engine(settings)
    registry = Registry(engine)
    fake = Recorder(registry)
    q = JobQueue(settings, engine, lambda: fake)  # type: ignore[arg-type, return-value]
    q.create_schema()
    return q, fake, registry


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[JobQueue, Recorder, Registry]]:
    q, fake, registry = _queue(tmp_path / "data")
    yield q, fake, registry
    q.close()
    q.engine.dispose()


def _id(name: str) -> str:
    return doc_id_for("default", f"upload://{name}")


def _upload(q: JobQueue, registry: Registry, name: str) -> JobRow:
    doc_id = _id(name)
    registry.upsert(
        doc_id,
        tenant="default",
        source_uri=f"upload://{name}",
        filename=name,
        state=DocState.discovered,
    )
    path = q.store_upload(doc_id, name, b"some text " + name.encode())
    return q.submit_upload(
        Principal(user="ann"),
        None,
        doc_id=doc_id,
        path=path,
        filename=name,
        source_uri=f"upload://{name}",
        acl=["user:ann"],
        metadata={},
    )


def _wait(q: JobQueue, job_id: str) -> JobRow:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = q.get(job_id)
        assert row is not None
        if row.status not in ("queued", "running"):
            return row
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_a_job_that_crashed_the_worker_max_retries_plus_one_times_is_dead_lettered(
    setup: tuple[JobQueue, Recorder, Registry],
) -> None:
    q, fake, registry = setup
    job = _upload(q, registry, "crash.md")
    stored = Path(job.params["path"])
    q._update(job.job_id, status="running", attempts=MAX_RETRIES + 1)  # crashed every time
    q.start()
    row = _wait(q, job.job_id)
    assert row.status == "failed"
    assert row.error == f"crashed the worker {MAX_RETRIES + 1} times; not retried"
    assert fake.seen == []  # not run again
    with Session(q.engine) as s:
        letters = s.scalars(select(DeadLetterRow)).all()
    assert [(d.job_id, d.doc_id, d.attempts) for d in letters] == [
        (job.job_id, _id("crash.md"), MAX_RETRIES + 1)
    ]
    doc = registry.get(_id("crash.md"))
    assert doc is not None
    assert doc.state == DocState.failed  # never left "discovered"
    assert doc.error == row.error
    assert not stored.exists()


def test_a_job_below_the_cap_runs_again(setup: tuple[JobQueue, Recorder, Registry]) -> None:
    q, fake, registry = setup
    job = _upload(q, registry, "again.md")
    q._update(job.job_id, status="running", attempts=MAX_RETRIES)
    q.start()
    row = _wait(q, job.job_id)
    assert row.status == "done"
    assert row.attempts == MAX_RETRIES + 1
    assert fake.seen == ["again.md"]


def test_a_failed_uploads_bytes_are_deleted_once_the_failure_is_recorded(
    setup: tuple[JobQueue, Recorder, Registry],
) -> None:
    q, _, registry = setup
    bad, good = _upload(q, registry, "bad.md"), _upload(q, registry, "good.md")
    q.start()
    assert _wait(q, bad.job_id).status == "failed"
    assert _wait(q, good.job_id).status == "done"
    assert not Path(bad.params["path"]).exists()
    assert not (q.uploads_dir / _id("bad.md")).exists()
    assert Path(good.params["path"]).exists()
    row = registry.get(_id("bad.md"))
    assert row is not None
    assert row.state == DocState.failed


def test_failed_uploads_are_kept_when_asked(tmp_path: Path) -> None:
    q, _, registry = _queue(tmp_path / "data", keep_failed_uploads=True)
    try:
        bad = _upload(q, registry, "bad.md")
        q.start()
        assert _wait(q, bad.job_id).status == "failed"
        assert Path(bad.params["path"]).exists()
    finally:
        q.close()
        q.engine.dispose()


def test_a_new_version_replaces_the_stored_bytes(
    setup: tuple[JobQueue, Recorder, Registry],
) -> None:
    q, _, registry = setup
    first = _upload(q, registry, "v.md")
    q.start()
    assert _wait(q, first.job_id).status == "done"
    path = q.store_upload(_id("v.md"), "v.md", b"version two")
    second = q.submit_upload(
        Principal(user="ann"),
        None,
        doc_id=_id("v.md"),
        path=path,
        filename="v.md",
        source_uri="upload://v.md",
        acl=["user:ann"],
        metadata={},
    )
    assert _wait(q, second.job_id).status == "done"
    assert [p.name for p in (q.uploads_dir / _id("v.md")).iterdir()] == [path.name]


# --- the Celery executor: the same cap, counted per document on the job row ----------------


class _Request:
    retries = 0
    id = "task-1"


class _Task:
    request = _Request()


@pytest.mark.parametrize(
    ("runs_before", "expected"), [(MAX_RETRIES + 1, "dead"), (MAX_RETRIES, "indexed")]
)
def test_a_celery_document_that_keeps_killing_its_worker_is_dead_lettered(
    tmp_path: Path, runs_before: int, expected: str
) -> None:
    import os

    from core import ensure_schema
    from ingest import UploadBlobRow, WorkerRuntime, run_document, set_runtime

    settings = Settings(data_dir=tmp_path / "data", queue={"max_retries": MAX_RETRIES})
    engine = make_engine(settings)
    ensure_schema(engine, settings)
    registry = Registry(engine)
    fake = Recorder(registry)
    name = "x.md"
    doc_id = _id(name)
    registry.upsert(
        doc_id,
        tenant="default",
        source_uri=f"upload://{name}",
        filename=name,
        state=DocState.discovered,
    )
    spec = {
        "kind": "upload",
        "doc_id": doc_id,
        "filename": name,
        "source_uri": f"upload://{name}",
        "acl": ["user:ann"],
        "metadata": {},
    }
    with Session(engine) as s, s.begin():
        s.add(UploadBlobRow(doc_id=doc_id, filename=name, content_sha256="abc", data=b"text"))
        s.add(
            JobRow(
                job_id="job-1",
                kind="upload",
                status="running",
                tenant="default",
                user="ann",
                doc_id=doc_id,
                total=1,
                counts={},
                errors=[],
                attempts=1,
                params={**spec, "done": [], "starts": {doc_id: runs_before}},
            )
        )
    set_runtime(WorkerRuntime(settings, engine, fake, os.getpid()))  # type: ignore[arg-type]
    try:
        status = run_document(_Task(), settings, "job-1", spec)  # type: ignore[arg-type]
    finally:
        set_runtime(None)
    if expected == "dead":
        assert status == "dead"
        assert fake.seen == []
        with Session(engine) as s:
            letter = s.scalars(select(DeadLetterRow)).one()
            blob = s.get(UploadBlobRow, doc_id)
        assert letter.error == f"crashed the worker {MAX_RETRIES + 1} times; not retried"
        assert letter.attempts == MAX_RETRIES + 1
        assert blob is None  # the failure is recorded: the bytes go
        row = registry.get(doc_id)
        assert row is not None
        assert row.state == DocState.failed
    else:
        assert status == "indexed"
        assert fake.seen == [name]
    engine.dispose()
