"""The ingest job queue: order, progress, failures, and jobs a crash left running."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import Principal, Settings, make_engine
from ingest import DocOutcome, IngestSummary, JobQueue, JobRow, SourceDocument
from ingest.jobs import failure_reason


class FakeIngestor:
    """Records what it was asked to ingest; fails documents whose name says so. Each
    document has ``PAGES`` pages, reported one by one to ``on_progress``, and ``at_page``
    sees the job's row after each."""

    PAGES = 4

    def __init__(self) -> None:
        self.on_outcome: Any = None
        self.on_progress: Any = None
        self.at_page: Any = None
        self.seen: list[str] = []
        self.closed = False

    def run(self, sources: Iterable[SourceDocument], **_: Any) -> IngestSummary:
        summary = IngestSummary()
        for doc in sources:
            self.seen.append(doc.filename)
            failed = "bad" in doc.filename
            if not failed and self.on_progress:
                for page in range(1, self.PAGES + 1):
                    self.on_progress(doc.doc_id, page / self.PAGES, page, self.PAGES)
                    if self.at_page:
                        self.at_page(doc.doc_id, page)
            outcome = DocOutcome(
                doc.doc_id,
                doc.source_uri,
                "failed" if failed else "indexed",
                pages=0 if failed else self.PAGES,
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


def test_a_job_moves_by_page_while_its_document_is_written(
    queue: tuple[JobQueue, FakeIngestor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.jobs.PROGRESS_EVERY_S", 0.0)
    q, fake = queue
    seen: list[tuple[int, int, float | None]] = []

    def at_page(doc_id: str, page: int) -> None:
        rows, _ = q.jobs("default")
        seen.append((rows[0].pages_done, rows[0].pages_total, rows[0].progress))

    fake.at_page = at_page
    job = _upload(q, "long.md")
    q.start()
    row = _wait(q, job.job_id)
    # Before the document is done, its job is a quarter, half, three quarters through.
    assert seen == [(1, 4, 0.25), (2, 4, 0.5), (3, 4, 0.75), (4, 4, 1.0)]
    assert (row.pages_done, row.pages_total, row.progress) == (4, 4, 1.0)
    assert row.updated_at is not None


def test_a_sync_job_counts_pages_across_documents(
    queue: tuple[JobQueue, FakeIngestor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingest.jobs.PROGRESS_EVERY_S", 0.0)
    q, fake = queue
    folder = tmp_path / "sync"
    folder.mkdir()
    for name in ("a.md", "b.md"):
        (folder / name).write_text("# A note\n\nSome text.\n")
    seen: list[tuple[int, int, float | None]] = []

    def at_page(doc_id: str, page: int) -> None:
        row = q.get(job.job_id)
        assert row is not None
        seen.append((row.pages_done, row.pages_total, row.progress))

    fake.at_page = at_page
    job = q.submit_sync(
        Principal(user="root", role="admin"),
        None,
        path=folder,
        tenant="default",
        acl=["group:ops"],
        include=[],
        exclude=[],
        prune=False,
        force=False,
    )
    q.start()
    row = _wait(q, job.job_id)
    assert [s[2] for s in seen] == [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
    assert seen[4][:2] == (5, 8)  # the second document's first page, of 4 + 4
    assert (row.pages_done, row.pages_total, row.progress) == (8, 8, 1.0)


def test_jobs_are_listed_newest_first_per_tenant_and_user(
    queue: tuple[JobQueue, FakeIngestor],
) -> None:
    q, _ = queue
    a, b = _upload(q, "a.md"), _upload(q, "b.md")
    other = q.submit_upload(
        Principal(user="bob", tenant="globex"),
        None,
        doc_id="doc-x",
        path=q.store_upload("doc-x", "x.md", b"x"),
        filename="x.md",
        source_uri="upload://globex/bob/x.md",
        acl=["user:bob"],
        metadata={},
    )
    rows, total = q.jobs("default")
    assert total == 2
    assert {r.job_id for r in rows} == {a.job_id, b.job_id}
    assert q.jobs("default", user="bob") == ([], 0)
    assert [r.job_id for r in q.jobs("globex", user="bob")[0]] == [other.job_id]
    page, total = q.jobs("default", limit=1, offset=1)
    assert total == 2
    assert len(page) == 1
    assert q.jobs("default", status="done") == ([], 0)


def test_the_original_upload_is_found_by_its_hash_only(
    queue: tuple[JobQueue, FakeIngestor],
) -> None:
    q, _ = queue
    data = b"%PDF-1.4 not really"
    path = q.store_upload("doc-o", "o.pdf", data)
    digest = hashlib.sha256(data).hexdigest()
    assert path.name.startswith(digest)
    assert q.original("doc-o", digest) == data
    assert q.original("doc-o", "0" * 64) is None
    assert q.original("doc-o", "../" + digest) is None
    assert q.original("../doc-o", digest) is None
    path.write_bytes(b"changed by hand")  # the name is right, the content is not
    assert q.original("doc-o", digest) is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (None, None),
        ("a.pdf: PDF has no pages", "PDF has no pages"),
        ("internal error: KeyError", "deepwell failed on this file because of a bug (KeyError)"),
        ("crashed the worker 3 times; not retried", "reading this file crashed the ingest"),
        ("timed out: parsing took longer", "Timed out: parsing took longer"),
    ],
)
def test_failure_reasons_read_as_sentences(error: str | None, reason: str | None) -> None:
    said = failure_reason(error, "a.pdf")
    assert said == reason if reason is None else (said or "").startswith(reason)


def test_the_celery_queue_serves_the_upload_it_keeps(tmp_path: Path) -> None:
    from celery import Celery

    from ingest import CeleryJobQueue

    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings)
    q = CeleryJobQueue(settings, engine, app=Celery(broker="memory://"))
    q.create_schema()
    data = b"%PDF-1.4 kept in the database"
    q.store_upload("doc-c", "c.pdf", data)
    assert q.original("doc-c", hashlib.sha256(data).hexdigest()) == data
    assert q.original("doc-c", hashlib.sha256(b"another version").hexdigest()) is None
    assert q.original("doc-c", "") is None
    assert q.original("doc-x", hashlib.sha256(data).hexdigest()) is None
    q.close()
    engine.dispose()
