"""The ingest job queue: order, progress, failures, and jobs a crash left running."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import Principal, Settings, make_engine
from ingest import DocOutcome, IngestSummary, JobQueue, JobRow, SourceDocument


class FakeIngestor:
    """Records what it was asked to ingest; fails documents whose name says so."""

    def __init__(self) -> None:
        self.on_outcome: Any = None
        self.seen: list[str] = []
        self.closed = False

    def run(self, sources: Iterable[SourceDocument], **_: Any) -> IngestSummary:
        summary = IngestSummary()
        for doc in sources:
            self.seen.append(doc.filename)
            failed = "bad" in doc.filename
            outcome = DocOutcome(
                doc.doc_id,
                doc.source_uri,
                "failed" if failed else "indexed",
                chunks=0 if failed else 2,
                error="cannot parse" if failed else None,
            )
            summary.outcomes.append(outcome)
            if self.on_outcome:
                self.on_outcome(outcome)
        return summary

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[tuple[JobQueue, FakeIngestor]]:
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    fake = FakeIngestor()
    optimized: list[int] = []
    q = JobQueue(settings, engine, lambda: fake, after_jobs=lambda: optimized.append(1))  # type: ignore[arg-type, return-value]
    q.create_schema()
    yield q, fake
    q.close()
    engine.dispose()


def _wait(q: JobQueue, job_id: str) -> JobRow:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = q.get(job_id)
        assert row is not None
        if row.status not in ("queued", "running"):
            return row
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def _upload(q: JobQueue, name: str) -> JobRow:
    path = q.store_upload("doc-" + name, name, b"some text")
    return q.submit_upload(
        Principal(user="ann"),
        None,
        doc_id="doc-" + name,
        path=path,
        filename=name,
        source_uri=f"upload://default/ann/{name}",
        acl=["user:ann"],
        metadata={},
    )


def test_jobs_run_in_order_with_progress(queue: tuple[JobQueue, FakeIngestor]) -> None:
    q, fake = queue
    first, second = _upload(q, "a.md"), _upload(q, "bad.md")
    q.start()
    done, failed = _wait(q, first.job_id), _wait(q, second.job_id)
    assert fake.seen == ["a.md", "bad.md"]
    assert done.status == "done"
    assert done.counts["indexed"] == 1
    assert done.chunks == 2
    assert done.processed == done.total == 1
    assert failed.status == "failed"  # its only document failed
    assert failed.errors == [{"source_uri": "upload://default/ann/bad.md", "error": "cannot parse"}]
    assert failed.error == "cannot parse"


def test_a_job_left_running_by_a_crash_runs_again(queue: tuple[JobQueue, FakeIngestor]) -> None:
    q, fake = queue
    job = _upload(q, "c.md")
    q._update(job.job_id, status="running")
    q.start()
    assert _wait(q, job.job_id).status == "done"
    assert fake.seen == ["c.md"]
    assert q.get(job.job_id).attempts == 1  # type: ignore[union-attr]


def test_queued_uploads_of_a_deleted_document_are_cancelled(
    queue: tuple[JobQueue, FakeIngestor],
) -> None:
    q, fake = queue
    job = _upload(q, "d.md")
    assert q.cancel_for_document("doc-d.md") == 1
    q.start()
    time.sleep(0.3)
    row = q.get(job.job_id)
    assert row is not None
    assert row.status == "cancelled"
    assert fake.seen == []


def test_a_missing_sync_folder_fails_the_job(
    queue: tuple[JobQueue, FakeIngestor], tmp_path: Path
) -> None:
    q, _ = queue
    job = q.submit_sync(
        Principal(user="root", role="admin"),
        None,
        path=tmp_path / "gone",
        tenant="default",
        acl=["group:ops"],
        include=[],
        exclude=[],
        prune=False,
        force=False,
    )
    q.start()
    row = _wait(q, job.job_id)
    assert row.status == "failed"
    assert "no such file or folder" in (row.error or "")
