"""Ingest jobs of the embedded deployment: a table and one background worker thread.

The API process owns the embedded index, so it runs ingestion itself: uploads
and folder syncs become rows of ``ingest_jobs`` (``queued`` → ``running`` →
``done`` | ``failed`` | ``cancelled``), and one worker thread, which owns the
:class:`~ingest.pipeline.Ingestor` (and its parser processes), runs them in order.
Searches go on meanwhile: the index swaps each document's chunks in one step
under its read-write lock.

A job left ``running`` by a crash is queued again at start-up; ingestion is
idempotent, so it finishes what is missing. A job that keeps crashing the server is
not retried for ever: one left ``running`` after more than ``queue.max_retries``
attempts (the same setting caps the Celery executor's retries) becomes a dead letter
(``dead_letters``; the job ``failed``: "crashed the worker N times; not retried") and
its document is marked failed.

Uploaded bytes are stored under ``<data_dir>/uploads/<doc_id>/<sha256><ext>`` before
the job is queued, so they survive a restart too; the client's file name is kept only
as the document's name, so no name can hit a file system limit. Once an upload's
failure is recorded (registry row and job ``failed``), its bytes are deleted, unless
``api.keep_failed_uploads``.

A job is ``done`` when it ran to its end (``counts.failed`` says how many documents
failed, ``errors`` why), and ``failed`` when it could not run or every document
in it failed.

While a document is ingested the job moves: its parser reports each page it reads
(PDFs), then the writer the chunks it embeds (:attr:`Ingestor.on_progress`), recorded as
``pages_done`` (pages read) / ``pages_total`` and ``progress`` (0..1, documents done
plus the share of the current one: half for reading its pages, half for embedding).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core import Base, DeepwellError, Principal, Settings, get_logger, upgrade_schema
from ingest.pipeline import DocOutcome, Ingestor
from ingest.registry import DocState, Registry
from ingest.sources import FolderSource, SourceDocument, bytes_source

log = get_logger(__name__)

JobKind = Literal["upload", "sync"]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed", "cancelled")
MAX_ERRORS = 100
#: Seconds between two progress writes of one document (its last page is always written).
PROGRESS_EVERY_S = 0.25
_SAFE_EXT = re.compile(r"\.[a-z0-9]{1,10}")


def _now() -> datetime:
    return datetime.now(UTC)


class JobRow(Base):
    __tablename__ = "ingest_jobs"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    user: Mapped[str] = mapped_column(String(256))
    key_id: Mapped[str | None] = mapped_column(String(36), default=None)
    doc_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int | None] = mapped_column(Integer, default=None)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Pages written so far, and the pages of the documents parsed so far (revision 0008).
    pages_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pages_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: 0..1: documents done plus the share of the one being written (None: not started,
    #: or run by a queue that counts documents only).
    progress: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: The last change of any kind (None: last changed before revision 0008).
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now
    )


class DeadLetterRow(Base):
    """A document whose task failed on every attempt (kept for inspection and replay)."""

    __tablename__ = "dead_letters"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    doc_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    source_uri: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    spec: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def crashed_error(attempts: int) -> str:
    """Why a job or task that kept killing its worker was given up."""
    return f"crashed the worker {attempts} times; not retried"


def upload_name(filename: str, data: bytes) -> str:
    """The stored name of an upload: its SHA-256 and a sanitized extension, never the
    client's name (which may be up to 255 characters of any script: 1,020 bytes)."""
    suffix = Path(filename).suffix.lower()
    ext = suffix if _SAFE_EXT.fullmatch(suffix) else ""
    return hashlib.sha256(data).hexdigest() + ext


_CRASHED = re.compile(r"crashed the worker (\d+) times; not retried")


def failure_reason(error: str | None, filename: str | None = None) -> str | None:
    """Why a document failed, in the user's words: without the file name the error starts
    with (it is shown beside it); an internal error or a crash said as such.

    Args:
        error: the error recorded on the document or job (None: it did not fail).
        filename: the document's file name, dropped where the error starts with it.
    """
    if not error:
        return None
    text = error.strip()
    if filename and text.startswith(f"{filename}: "):
        text = text[len(filename) + 2 :]
    if text.startswith("internal error: "):
        return (
            f"deepwell failed on this file because of a bug "
            f"({text.removeprefix('internal error: ')}); the server log has the details"
        )
    if (crashed := _CRASHED.search(text)) is not None:
        return (
            f"reading this file crashed the ingest worker {crashed.group(1)} times, so it is "
            "not tried again (an administrator sees it among the dead letters)"
        )
    return text[:1].upper() + text[1:]


class _Progress:
    """What one running job has done so far, written to its row as it changes.

    ``outcome`` sees each document's outcome; ``pages`` how far the writer got with the
    current document (at most every :data:`PROGRESS_EVERY_S`, its last page always).
    """

    def __init__(
        self,
        update: Callable[..., None],
        on_outcome: Callable[[DocOutcome], None] | None,
    ) -> None:
        self._update = update
        self._on_outcome = on_outcome
        self.counts = {"indexed": 0, "unchanged": 0, "failed": 0, "deleted": 0}
        self.errors: list[dict[str, str]] = []
        self.processed = self.chunks = 0
        self.pages = 0  # pages of the documents written
        self.documents = 1  # known once the job's sources are listed
        self._written_at = 0.0  # monotonic time of the last page-progress write

    @property
    def changed_index(self) -> bool:
        return self.counts["indexed"] + self.counts["deleted"] > 0

    def outcome(self, o: DocOutcome) -> None:
        self.processed += 1
        self.counts[o.status] = self.counts.get(o.status, 0) + 1
        self.chunks += o.chunks
        self.pages += o.pages
        if o.error and len(self.errors) < MAX_ERRORS:
            self.errors.append({"source_uri": o.source_uri, "error": o.error})
        self._update(
            processed=self.processed,
            counts=dict(self.counts),
            chunks=self.chunks,
            errors=list(self.errors),
            pages_done=self.pages,
            pages_total=self.pages,
            progress=min(1.0, self.processed / self.documents),
        )
        if self._on_outcome is not None:
            self._on_outcome(o)

    def pages_written(self, doc_id: str, fraction: float, done: int, total: int) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._written_at < PROGRESS_EVERY_S:
            return
        self._written_at = now
        self._update(
            pages_done=self.pages + done,
            pages_total=self.pages + total,
            progress=min(1.0, (self.processed + fraction) / self.documents),
        )


class JobQueue:
    """Queued ingest jobs and the one thread that runs them.

    ``make_ingestor`` builds the worker's ingestor on its first job (parser processes
    start then, not at server start). ``on_outcome`` sees every document outcome
    (metrics); ``after_jobs`` runs when the queue drains after a job that changed the
    index (the server optimizes the index there).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        make_ingestor: Callable[[], Ingestor],
        *,
        on_outcome: Callable[[DocOutcome], None] | None = None,
        after_jobs: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.make_ingestor = make_ingestor
        self.on_outcome = on_outcome
        self.after_jobs = after_jobs
        self.uploads_dir = settings.data_dir / "uploads"
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._wake = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._ingestor: Ingestor | None = None

    def create_schema(self) -> None:
        """Bring the database to the current schema (every table; see :mod:`core.migrate`)."""
        upgrade_schema(self.engine)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Re-queue jobs a crash left running, dead-letter those that keep crashing, and
        start the worker thread.

        A job still ``running`` at start-up crashed the process that ran it. Its
        ``attempts`` count the runs so far; past ``queue.max_retries`` it is not run again.
        """
        dead = self._dead_letter_crashed()
        with self._session() as s, s.begin():
            requeued = s.execute(
                update(JobRow).where(JobRow.status == "running").values(status="queued")
            )
        if getattr(requeued, "rowcount", 0):
            log.warning("jobs.requeued_after_crash", jobs=requeued.rowcount)  # type: ignore[attr-defined]
        for job in dead:
            if job.kind == "upload" and job.doc_id:
                self._fail_document(job.doc_id, job.error or "")
                self._drop_failed_upload(job)
        self._thread = threading.Thread(target=self._run, name="deepwell-ingest", daemon=True)
        self._thread.start()

    def _dead_letter_crashed(self) -> list[JobRow]:
        """Fail the running jobs that already ran more than ``queue.max_retries`` times."""
        cap = self.settings.queue.max_retries
        with self._session() as s, s.begin():
            jobs = list(
                s.scalars(
                    select(JobRow)
                    .where(JobRow.status == "running", JobRow.attempts > cap)
                    .with_for_update()
                )
            )
            for job in jobs:
                error = crashed_error(job.attempts)
                uri = str(job.params.get("source_uri") or job.params.get("path") or "")
                job.status = "failed"
                job.error = error
                job.finished_at = _now()
                if job.kind == "upload":
                    job.processed = job.total or 1
                    job.counts = {**(job.counts or {}), "failed": 1}
                    job.errors = [*(job.errors or []), {"source_uri": uri, "error": error}][
                        :MAX_ERRORS
                    ]
                s.merge(
                    DeadLetterRow(
                        task_id=f"inprocess:{job.job_id}",
                        job_id=job.job_id,
                        doc_id=job.doc_id,
                        source_uri=uri,
                        error=error,
                        attempts=job.attempts,
                        spec=json.dumps({"kind": job.kind, **job.params}),
                        created_at=_now(),
                    )
                )
                log.error(
                    "jobs.dead_letter", job_id=job.job_id, kind=job.kind, attempts=job.attempts
                )
        return jobs

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the current job; a job cut short is re-queued at the next start."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        if self._ingestor is not None:
            self._ingestor.close()
            self._ingestor = None

    def idle(self) -> bool:
        """No job queued or running."""
        return not self._busy and self.queued() == 0

    # --- submitting --------------------------------------------------------------------

    def _submit(self, row: JobRow) -> JobRow:
        with self._session() as s, s.begin():
            s.add(row)
        with self._wake:
            self._wake.notify_all()
        log.info("jobs.queued", job_id=row.job_id, kind=row.kind, tenant=row.tenant)
        return row

    def store_upload(self, doc_id: str, filename: str, data: bytes) -> Path:
        """Keep an upload's bytes as ``<data_dir>/uploads/<doc_id>/<sha256><ext>``.

        The stored name never depends on the client's name beyond a sanitized extension;
        the write goes through a temporary file that is removed if it fails.
        """
        folder = self.uploads_dir / doc_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / upload_name(filename, data)
        tmp = folder / f".{uuid.uuid4().hex}.part"
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def original(self, doc_id: str, content_sha256: str) -> bytes | None:
        """The bytes of the stored upload of ``doc_id`` that hash to ``content_sha256``
        (the registry's record of what was ingested); None when no such file is kept.

        Only ``<uploads>/<doc_id>/<sha256><ext>`` is considered, and its content is hashed
        again: a file changed or put there by hand is not the document.
        """
        if not re.fullmatch(r"[0-9a-f]{64}", content_sha256 or ""):
            return None
        folder = self.uploads_dir / doc_id
        if not folder.is_dir() or folder.resolve().parent != self.uploads_dir.resolve():
            return None
        for path in sorted(folder.iterdir()):
            stem, _, ext = path.name.partition(".")
            if stem != content_sha256 or not path.is_file() or path.is_symlink():
                continue
            if ext and not _SAFE_EXT.fullmatch("." + ext):
                continue
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == content_sha256:
                return data
        return None

    def discard_upload(self, doc_id: str) -> None:
        """Forget every stored upload of ``doc_id`` (it was never queued)."""
        shutil.rmtree(self.uploads_dir / doc_id, ignore_errors=True)

    def submit_upload(
        self,
        caller: Principal,
        key_id: str | None,
        *,
        doc_id: str,
        path: Path,
        filename: str,
        source_uri: str,
        acl: list[str],
        metadata: dict[str, Any],
    ) -> JobRow:
        return self._submit(
            JobRow(
                job_id=str(uuid.uuid4()),
                kind="upload",
                status="queued",
                tenant=caller.tenant,
                user=caller.user,
                key_id=key_id,
                doc_id=doc_id,
                params={
                    "path": str(path),
                    "filename": filename,
                    "source_uri": source_uri,
                    "acl": acl,
                    "metadata": metadata,
                },
                total=1,
                counts={},
                errors=[],
                created_at=_now(),
            )
        )

    def submit_sync(
        self,
        caller: Principal,
        key_id: str | None,
        *,
        path: Path,
        tenant: str,
        acl: list[str],
        include: list[str],
        exclude: list[str],
        prune: bool,
        force: bool,
    ) -> JobRow:
        return self._submit(
            JobRow(
                job_id=str(uuid.uuid4()),
                kind="sync",
                status="queued",
                tenant=tenant,
                user=caller.user,
                key_id=key_id,
                params={
                    "path": str(path),
                    "acl": acl,
                    "include": include,
                    "exclude": exclude,
                    "prune": prune,
                    "force": force,
                },
                counts={},
                errors=[],
                created_at=_now(),
            )
        )

    # --- reading -----------------------------------------------------------------------

    def get(self, job_id: str) -> JobRow | None:
        with self._session() as s:
            return s.get(JobRow, job_id)

    def jobs(
        self,
        tenant: str,
        *,
        user: str | None = None,
        status: JobStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobRow], int]:
        """Jobs of ``tenant``, newest first (only those ``user`` submitted, when given), and
        how many match in all."""
        where = [JobRow.tenant == tenant]
        if user is not None:
            where.append(JobRow.user == user)
        if status is not None:
            where.append(JobRow.status == status)
        page = (
            select(JobRow)
            .where(*where)
            .order_by(JobRow.created_at.desc(), JobRow.job_id)
            .offset(offset)
            .limit(limit)
        )
        with self._session() as s:
            total = int(s.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0)
            return list(s.scalars(page)), total

    def dead_letters(
        self, tenant: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[tuple[DeadLetterRow, JobRow]], int]:
        """Documents of ``tenant``'s jobs given up after every attempt, newest first, each
        with its job, and how many there are in all."""
        joined = (DeadLetterRow.job_id == JobRow.job_id, JobRow.tenant == tenant)
        page = (
            select(DeadLetterRow, JobRow)
            .join(JobRow, joined[0])
            .where(joined[1])
            .order_by(DeadLetterRow.created_at.desc(), DeadLetterRow.task_id)
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(DeadLetterRow).join(JobRow, joined[0])
        with self._session() as s:
            total = int(s.scalar(count.where(joined[1])) or 0)
            return [(dead, job) for dead, job in s.execute(page).tuples()], total

    def active_documents(self, doc_ids: Iterable[str]) -> set[str]:
        """Those of ``doc_ids`` an upload job is running on now (being ingested)."""
        wanted = list(set(doc_ids))
        found: set[str] = set()
        with self._session() as s:
            for start in range(0, len(wanted), 500):
                stmt = select(JobRow.doc_id).where(
                    JobRow.status == "running", JobRow.doc_id.in_(wanted[start : start + 500])
                )
                found |= {d for d in s.scalars(stmt) if d}
        return found

    def queued(self) -> int:
        with self._session() as s:
            stmt = select(func.count()).select_from(JobRow).where(JobRow.status == "queued")
            return int(s.scalar(stmt) or 0)

    def cancel_for_document(self, doc_id: str) -> int:
        """Cancel queued upload jobs of a document (it is being deleted)."""
        with self._session() as s, s.begin():
            result = s.execute(
                update(JobRow)
                .where(JobRow.doc_id == doc_id, JobRow.status == "queued")
                .values(status="cancelled", error="the document was deleted", finished_at=_now())
            )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- the worker --------------------------------------------------------------------

    def _claim(self) -> JobRow | None:
        """Take the oldest queued job: one statement, so two workers never take the same job.

        PostgreSQL skips rows another worker has locked (``FOR UPDATE SKIP LOCKED``);
        SQLite runs one writing statement at a time, and ``status = 'queued'`` is
        checked again by the update itself.
        """
        oldest = (
            select(JobRow.job_id)
            .where(JobRow.status == "queued")
            .order_by(JobRow.created_at, JobRow.job_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(JobRow)
            .where(JobRow.job_id == oldest, JobRow.status == "queued")
            .values(status="running", started_at=_now(), attempts=JobRow.attempts + 1)
            .returning(JobRow.job_id)
            .execution_options(synchronize_session=False)
        )
        with self._session() as s, s.begin():
            job_id = s.execute(claim).scalar_one_or_none()
        if job_id is None:
            return None
        self._busy = True
        return self.get(job_id)

    def _run(self) -> None:
        changed = False
        while True:
            with self._wake:
                if self._stop:
                    return
            try:
                job = self._claim()
            except SQLAlchemyError as exc:  # the database is down: wait, don't die
                log.warning("jobs.database_unavailable", error=type(exc).__name__)
                with self._wake:
                    if not self._stop:
                        self._wake.wait(timeout=2.0)
                continue
            if job is None:
                if changed and self.after_jobs is not None:
                    self._safely(self.after_jobs)
                changed = False
                with self._wake:
                    if not self._stop:
                        self._wake.wait(timeout=2.0)
                continue
            try:
                changed |= self._execute(job)
            except SQLAlchemyError as exc:
                # Progress could not be recorded (database down mid-job): the job stays
                # `running` and is queued again at the next start; ingestion is idempotent.
                log.warning("jobs.database_unavailable", job_id=job.job_id, error=str(exc))
            finally:
                self._busy = False

    @staticmethod
    def _safely(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.error("jobs.after_jobs_failed", error=traceback.format_exc(limit=3))

    def _sources(self, job: JobRow) -> tuple[list[SourceDocument], str | None]:
        p = job.params
        if job.kind == "upload":
            path = Path(p["path"])
            doc = bytes_source(
                path.read_bytes(),
                filename=p["filename"],
                tenant=job.tenant,
                acl=p["acl"],
                source_uri=p["source_uri"],
                metadata=p.get("metadata") or {},
            )
            return [doc], None
        root = Path(p["path"])
        src = FolderSource(
            root,
            job.tenant,
            list(p["acl"]),
            include=p.get("include") or (),
            exclude=p.get("exclude") or (),
            max_bytes=int(self.settings.ingest.max_file_mb * 1e6),
        )
        prune = root.resolve().as_uri() + "/" if p.get("prune") and root.is_dir() else None
        return list(src), prune

    def _execute(self, job: JobRow) -> bool:
        """Run one job; True when it changed the index."""
        progress = _Progress(lambda **fields: self._update(job.job_id, **fields), self.on_outcome)
        log.info("jobs.started", job_id=job.job_id, kind=job.kind)
        try:
            sources, prune = self._sources(job)
            progress.documents = max(1, len(sources))
            self._update(job.job_id, total=len(sources), progress=0.0)
            if self._ingestor is None:
                self._ingestor = self.make_ingestor()
            self._ingestor.on_outcome = progress.outcome
            self._ingestor.on_progress = progress.pages_written
            self._ingestor.run(sources, prune_prefix=prune, force=bool(job.params.get("force")))
        except (DeepwellError, OSError) as exc:
            self._finish(job.job_id, "failed", error=str(exc))
            log.warning("jobs.failed", job_id=job.job_id, error=str(exc))
            self._after_failed_job(job, str(exc))
            return progress.changed_index
        except Exception as exc:  # a bug must fail the job, not kill the worker
            log.error("jobs.crashed", job_id=job.job_id, error=traceback.format_exc(limit=5))
            error = f"internal error: {type(exc).__name__}"
            self._finish(job.job_id, "failed", error=error)
            self._after_failed_job(job, error)
            return progress.changed_index
        finally:
            if self._ingestor is not None:
                self._ingestor.on_outcome = None
                self._ingestor.on_progress = None
        failed = progress.counts["failed"]
        all_failed = failed > 0 and failed == progress.processed
        status: JobStatus = "failed" if all_failed else "done"
        first_error = progress.errors[0]["error"] if all_failed else None
        self._finish(job.job_id, status, error=first_error)
        log.info("jobs.finished", job_id=job.job_id, status=status, **progress.counts)
        if job.kind == "upload" and failed:
            self._drop_failed_upload(job)
        elif job.kind == "upload" and progress.counts["indexed"]:
            self._drop_superseded(job)
        return progress.changed_index

    # --- after a failure ---------------------------------------------------------------

    def _after_failed_job(self, job: JobRow, reason: str) -> None:
        """An upload job that could not run: its document is failed, its bytes dropped."""
        if job.kind == "upload" and job.doc_id:
            self._fail_document(job.doc_id, reason)
            self._drop_failed_upload(job)

    def _fail_document(self, doc_id: str, reason: str) -> None:
        """Record a failure on a document that has no indexed version (never left
        ``discovered``); an indexed one keeps serving and records the error."""
        registry = Registry(self.engine)
        row = registry.get(doc_id)
        if row is None:
            return
        if row.state == DocState.indexed:
            registry.upsert(doc_id, error=reason)
        else:
            registry.upsert(doc_id, state=DocState.failed, error=reason)

    def _drop_failed_upload(self, job: JobRow) -> None:
        """Delete a failed upload's bytes (after its failure is recorded), unless
        ``api.keep_failed_uploads``."""
        if self.settings.api.keep_failed_uploads or not job.params.get("path"):
            return
        path = Path(job.params["path"])
        if self.uploads_dir.resolve() not in path.resolve().parents:
            return  # not a file this queue stored
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only when empty: a newer upload may wait there
            path.parent.rmdir()
        log.info("jobs.failed_upload_deleted", job_id=job.job_id, doc_id=job.doc_id)

    def _drop_superseded(self, job: JobRow) -> None:
        """After a version is indexed, older stored versions no queued job needs go."""
        path = Path(job.params["path"])
        if not path.parent.is_dir():
            return
        with self._session() as s:
            waiting = {
                str(p.get("path"))
                for p in s.scalars(
                    select(JobRow.params).where(
                        JobRow.doc_id == job.doc_id, JobRow.status.in_(("queued", "running"))
                    )
                )
            }
        for other in path.parent.iterdir():
            if other != path and not other.name.startswith(".") and str(other) not in waiting:
                other.unlink(missing_ok=True)

    def _update(self, job_id: str, **fields: Any) -> None:
        with self._session() as s, s.begin():
            s.execute(update(JobRow).where(JobRow.job_id == job_id).values(**fields))

    def _finish(self, job_id: str, status: JobStatus, *, error: str | None) -> None:
        done = {"progress": 1.0} if status == "done" else {}
        self._update(job_id, status=status, error=error, finished_at=_now(), **done)
