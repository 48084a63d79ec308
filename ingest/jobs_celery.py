"""Ingest jobs of the scaled deployment: one Celery task per document, on any machine.

The API (:class:`CeleryJobQueue`) writes the job row to ``ingest_jobs`` exactly as
the in-process queue does, keeps an upload's bytes in the database
(``upload_blobs``: a worker on another machine cannot read the API's disk) and
publishes one ``deepwell.ingest_document`` task per document. ``deepwell worker``
runs the tasks (:func:`make_celery` with ``worker=True``); each worker process owns
one :class:`~ingest.pipeline.Ingestor` and writes progress to the job row, so
``GET /v1/jobs/{id}`` reads the same either way.

Fault tolerance, and why redelivery never duplicates:

* tasks are acknowledged after they finish (``acks_late``), and a worker process that
  dies mid-task (SIGKILL, OOM) puts its task back (``task_reject_on_worker_lost``);
  a whole worker that vanishes leaves its task unacknowledged in Redis, which
  redelivers it after ``queue.visibility_timeout_s``;
* a task that raises (database or index down, time limit) is retried with
  exponential backoff up to ``queue.max_retries`` times, then recorded in
  ``dead_letters`` and counted as failed on its job;
* a document that keeps killing its worker (redelivered each time) is not run for ever:
  each run is counted on the job row (``params.starts``), and the run after
  ``queue.max_retries + 1`` unfinished ones dead-letters it ("crashed the worker N times;
  not retried"), the same cap as the in-process queue's;
* running a document twice is harmless: point ids are deterministic, the index swap
  replaces a document's points in one step, the registry marks it ``indexed`` only
  after the write, and the job counts each document once (``params.done``).
"""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from sqlalchemy import DateTime, Engine, LargeBinary, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from core import BackendUnavailableError, Base, DeepwellError, Settings, get_logger, make_engine
from ingest.jobs import MAX_ERRORS, DeadLetterRow, JobQueue, JobRow, crashed_error
from ingest.pipeline import DocOutcome, Ingestor, ParserPool
from ingest.registry import DocState, Registry
from ingest.sources import FolderSource, SourceDocument, bytes_source
from ingest.work import ParseJob, PreparedDocument, prepare

log = get_logger(__name__)

TASK_NAME = "deepwell.ingest_document"
QUEUE_NAME = "deepwell-ingest"


def _now() -> datetime:
    return datetime.now(UTC)


class UploadBlobRow(Base):
    """An upload's bytes, kept until the document is deleted or replaced."""

    __tablename__ = "upload_blobs"

    doc_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filename: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def backoff_s(settings: Settings, retries: int) -> float:
    """Delay before retry number ``retries + 1``: doubling from ``retry_backoff_s``, jittered."""
    q = settings.queue
    base = min(q.retry_backoff_max_s, q.retry_backoff_s * (2**retries))
    return float(base * random.uniform(0.75, 1.0))  # noqa: S311  (jitter, not cryptography)


def make_celery(settings: Settings, *, worker: bool = False) -> Celery:
    """The Celery app of ``settings.queue``; ``worker`` also registers the ingest task."""
    q = settings.queue
    app = Celery(
        "deepwell", broker=q.broker_url.get_secret_value(), backend=None, set_as_current=False
    )
    app.conf.update(
        task_default_queue=QUEUE_NAME,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_soft_time_limit=q.soft_time_limit_s,
        task_time_limit=q.time_limit_s,
        worker_prefetch_multiplier=q.prefetch,
        # A worker process that grew past a parsing worker's cap (a large document, even a
        # failed one) is replaced after its task, so it does not keep that memory.
        worker_max_memory_per_child=(settings.ingest.worker_memory_mb or 0) * 1024 or None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker restart is waited out, not fatal
        broker_transport_options={
            "visibility_timeout": q.visibility_timeout_s,
            # kombu sweeps for tasks of lost workers every interval × throttle seconds
            # (default 10 × 10): sweep every interval, so a lost task returns soon after
            # its visibility timeout rather than up to 100 s later.
            "unacked_restore_interval": max(1, min(10, q.visibility_timeout_s // 3)),
            "unacked_restore_throttle": 1,
        },
        task_serializer="json",
        accept_content=["json"],
    )
    if worker:
        _register(app, settings)
    return app


# --- the API side ---------------------------------------------------------------------------


class CeleryJobQueue(JobQueue):
    """:class:`JobQueue` whose documents run as Celery tasks on ``deepwell worker`` processes."""

    def __init__(self, settings: Settings, engine: Engine, app: Celery | None = None) -> None:
        super().__init__(settings, engine, _no_ingestor)
        self.app = app or make_celery(settings)

    def start(self) -> None:
        """Nothing runs here: the workers take the tasks."""

    def close(self, timeout: float = 30.0) -> None:
        self.app.close()

    def idle(self) -> bool:
        with self._session() as s:
            active = s.scalar(
                select(JobRow.job_id).where(JobRow.status.in_(("queued", "running"))).limit(1)
            )
        return active is None

    def store_upload(self, doc_id: str, filename: str, data: bytes) -> Path:
        """Keep the bytes in ``upload_blobs`` (any worker can read them); a marker path."""
        import hashlib

        with self._session() as s, s.begin():
            s.merge(
                UploadBlobRow(
                    doc_id=doc_id,
                    filename=filename,
                    content_sha256=hashlib.sha256(data).hexdigest(),
                    data=data,
                    created_at=_now(),
                )
            )
        return Path("upload_blobs") / doc_id

    def original(self, doc_id: str, content_sha256: str) -> bytes | None:
        """The upload's bytes kept in ``upload_blobs``, when they are what was ingested."""
        if not content_sha256:
            return None
        with self._session() as s:
            blob = s.get(UploadBlobRow, doc_id)
            if blob is None or blob.content_sha256 != content_sha256:
                return None
            return bytes(blob.data)

    def discard_upload(self, doc_id: str) -> None:
        """Forget the stored upload of ``doc_id`` (it was never queued)."""
        with self._session() as s, s.begin():
            s.execute(delete(UploadBlobRow).where(UploadBlobRow.doc_id == doc_id))

    def cancel_for_document(self, doc_id: str) -> int:
        cancelled = super().cancel_for_document(doc_id)
        with self._session() as s, s.begin():
            s.execute(delete(UploadBlobRow).where(UploadBlobRow.doc_id == doc_id))
        return cancelled

    def _submit(self, row: JobRow) -> JobRow:
        specs = self._specs(row)
        row.total = len(specs)
        row.params = {**row.params, "done": []}
        with self._session() as s, s.begin():
            s.add(row)
        try:
            for spec in specs:
                self.app.send_task(
                    TASK_NAME,
                    args=[row.job_id, spec],
                    queue=QUEUE_NAME,
                    retry=True,
                    retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1},
                )
        except Exception as exc:  # kombu's connection errors vary by transport
            self._finish(row.job_id, "failed", error=f"queue unavailable: {type(exc).__name__}")
            raise BackendUnavailableError(f"ingest queue unreachable: {exc}") from exc
        if not specs:
            self._finish(row.job_id, "done", error=None)
        log.info("jobs.queued", job_id=row.job_id, kind=row.kind, documents=len(specs))
        return row

    def _specs(self, row: JobRow) -> list[dict[str, Any]]:
        """One task argument per document (JSON only: it crosses the broker)."""
        p = row.params
        if row.kind == "upload":
            return [
                {
                    "kind": "upload",
                    "doc_id": row.doc_id,
                    "filename": p["filename"],
                    "source_uri": p["source_uri"],
                    "acl": p["acl"],
                    "metadata": p.get("metadata") or {},
                }
            ]
        # A folder sync: the folder must be visible to the workers too (shared storage).
        if p.get("prune"):
            log.warning("jobs.prune_ignored", job_id=row.job_id, reason="celery backend")
        src = FolderSource(
            Path(p["path"]),
            row.tenant,
            list(p["acl"]),
            include=p.get("include") or (),
            exclude=p.get("exclude") or (),
            max_bytes=int(self.settings.ingest.max_file_mb * 1e6),
        )
        return [
            {
                "kind": "file",
                "path": str(doc.path) if doc.path else "",
                "force": bool(p.get("force")),
                "problem": doc.problem,
                "source_uri": doc.source_uri,
                "filename": doc.filename,
                "tenant": doc.tenant,
                "acl": doc.acl,
                "metadata": doc.metadata,
            }
            for doc in src
        ]


def _no_ingestor() -> Ingestor:
    raise AssertionError("the celery backend ingests in `deepwell worker`, not in the API")


# --- the worker side ------------------------------------------------------------------------


class InlineParser(ParserPool):
    """Parses in the calling process: a Celery worker process is already the isolation
    unit (its time limits and ``task_reject_on_worker_lost`` replace the pool's).

    The input limits are the pool's (``prepare`` checks ``ParseJob.input_limits``); the
    time limit is ``queue.soft_time_limit_s``/``time_limit_s``; memory: no address-space
    cap (the process also holds the embedder), but a process past
    ``ingest.worker_memory_mb`` is replaced after its task (``worker_max_memory_per_child``).
    """

    def __init__(self, settings: Settings) -> None:  # no pool: nothing to start
        self.workers = 1
        self.timeout = settings.queue.soft_time_limit_s

    def prepare(self, jobs: list[ParseJob]) -> Any:
        for job in jobs:
            result: PreparedDocument | str
            try:
                result = prepare(job)
            except DeepwellError as exc:
                result = str(exc)
            except SoftTimeLimitExceeded:
                raise
            except Exception as exc:  # a parser bug fails the document, as in the pool
                result = f"parser error: {type(exc).__name__}: {exc}"
            yield job.doc_id, result

    def close(self) -> None:
        pass


@dataclass
class WorkerRuntime:
    """What one worker process holds: the database and its :class:`Ingestor`."""

    settings: Settings
    engine: Engine
    ingestor: Ingestor
    pid: int

    @classmethod
    def build(cls, settings: Settings) -> WorkerRuntime:
        from core import configured_embedding, ensure_schema
        from retrieval import make_embedder, open_index

        engine = make_engine(settings)
        ensure_schema(engine, settings)
        embedder = make_embedder(settings, configured_embedding(settings))
        index = open_index(settings)
        index.ensure_collection(embedder.dim)
        ingestor = Ingestor(
            settings,
            index=index,
            registry=Registry(engine),
            embedder=embedder,
            pool=InlineParser(settings),
        )
        log.info("worker.ready", pid=os.getpid(), index=index.describe().get("backend"))
        return cls(settings, engine, ingestor, os.getpid())

    def close(self) -> None:
        self.ingestor.index.close()
        self.engine.dispose()


#: This process's runtime (a forked pool child builds its own: pid differs).
_runtimes: dict[str, WorkerRuntime] = {}


def set_runtime(runtime: WorkerRuntime | None) -> None:
    """Use ``runtime`` for the tasks of this process (tests run a worker in a thread)."""
    _runtimes.clear()
    if runtime is not None:
        _runtimes["current"] = runtime


def _get_runtime(settings: Settings) -> WorkerRuntime:
    runtime = _runtimes.get("current")
    if runtime is None or runtime.pid != os.getpid():
        runtime = _runtimes["current"] = WorkerRuntime.build(settings)
    return runtime


def _register(app: Celery, settings: Settings) -> None:
    @app.task(  # type: ignore[untyped-decorator]  # celery ships no annotations for task()
        name=TASK_NAME,
        # not shared: a shared task is registered into every Celery app made later in the
        # process, so a second app (another Settings) would run the first one's closure
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=settings.queue.max_retries,
    )
    def ingest_document(self: Task, job_id: str, spec: dict[str, Any]) -> str:
        return run_document(self, settings, job_id, spec)


def run_document(task: Task, settings: Settings, job_id: str, spec: dict[str, Any]) -> str:
    """The task body: ingest one document of job ``job_id``; returns its status."""
    rt = _get_runtime(settings)
    jobs = _JobTable(rt.engine)
    job = jobs.start(job_id)
    if job is None:
        return "skipped"
    starts = jobs.count_start(job_id, _doc_key(spec))
    if starts > settings.queue.max_retries + 1:
        # Every earlier run of this document ended without a result: it kills its worker
        # (redelivered after a SIGKILL or OOM). Not again, as in the in-process queue.
        crashed = crashed_error(starts - 1)
        jobs.dead_letter(task, job_id, spec, crashed, starts - 1)
        if spec["kind"] == "upload":
            _fail_upload(rt, settings, spec["doc_id"], crashed)
        return "dead"
    outcomes: list[DocOutcome] = []
    try:
        doc = _source(rt, job, spec)
        rt.ingestor.on_outcome = outcomes.append
        rt.ingestor.run([doc], force=bool(spec.get("force")))
    except Retry:
        raise
    except Exception as exc:  # infrastructure or time limit: retry, then dead-letter
        retries = int(task.request.retries or 0)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if retries >= settings.queue.max_retries:
            jobs.dead_letter(task, job_id, spec, error, retries + 1)
            if spec["kind"] == "upload":
                _fail_upload(rt, settings, spec["doc_id"], f"gave up after {retries + 1}: {error}")
            return "dead"
        log.warning("worker.retry", job_id=job_id, attempt=retries + 1, error=error)
        raise task.retry(exc=exc, countdown=backoff_s(settings, retries)) from exc
    finally:
        rt.ingestor.on_outcome = None
    for outcome in outcomes:
        jobs.record(job_id, spec, outcome)
        if outcome.status == "failed" and spec["kind"] == "upload":
            drop_failed_upload(rt.engine, settings, spec["doc_id"], doc.content_sha256)
    return outcomes[-1].status if outcomes else "skipped"


def drop_failed_upload(engine: Engine, settings: Settings, doc_id: str, sha256: str) -> None:
    """Delete a failed upload's bytes once its failure is recorded, unless
    ``api.keep_failed_uploads``; a newer upload of the same document (other bytes) stays."""
    if settings.api.keep_failed_uploads:
        return
    with sessionmaker(engine)() as s, s.begin():
        s.execute(
            delete(UploadBlobRow).where(
                UploadBlobRow.doc_id == doc_id, UploadBlobRow.content_sha256 == sha256
            )
        )
    log.info("worker.failed_upload_deleted", doc_id=doc_id)


def _doc_key(spec: dict[str, Any]) -> str:
    from ingest.sources import doc_id_for

    return str(spec.get("doc_id") or doc_id_for(spec.get("tenant", ""), spec["source_uri"]))


def _fail_upload(rt: WorkerRuntime, settings: Settings, doc_id: str, reason: str) -> None:
    """A dead-lettered upload: its document is failed (never left ``discovered``; an
    indexed version keeps serving) and its bytes dropped."""
    registry = Registry(rt.engine)
    row = registry.get(doc_id)
    if row is not None:
        fields: dict[str, Any] = {"error": reason}
        if row.state != DocState.indexed:
            fields["state"] = DocState.failed
        registry.upsert(doc_id, **fields)
    with sessionmaker(rt.engine)() as s:
        blob = s.get(UploadBlobRow, doc_id)
        sha = blob.content_sha256 if blob is not None else ""
    drop_failed_upload(rt.engine, settings, doc_id, sha)


def _source(rt: WorkerRuntime, job: JobRow, spec: dict[str, Any]) -> SourceDocument:
    if spec["kind"] == "upload":
        with sessionmaker(rt.engine)() as s:
            blob = s.get(UploadBlobRow, spec["doc_id"])
            if blob is None:
                raise LookupError(f"upload {spec['doc_id']}: its bytes are not in upload_blobs")
            data = blob.data
        return bytes_source(
            data,
            filename=spec["filename"],
            tenant=job.tenant,
            acl=spec["acl"],
            source_uri=spec["source_uri"],
            metadata=spec.get("metadata") or {},
        )
    path = Path(spec["path"])
    doc = SourceDocument(
        source_uri=spec["source_uri"],
        filename=spec["filename"],
        tenant=spec["tenant"],
        acl=list(spec["acl"]),
        path=path,
        metadata=dict(spec.get("metadata") or {}),
        problem=spec.get("problem"),
    )
    if doc.problem is None:
        import hashlib

        data = path.read_bytes()  # OSError: the shared folder is not mounted here → retry
        doc.size_bytes = len(data)
        doc.content_sha256 = hashlib.sha256(data).hexdigest()
        doc.data = data
    return doc


class _JobTable:
    """Progress of a job written by many worker processes (row lock on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def start(self, job_id: str) -> JobRow | None:
        with self._session() as s, s.begin():
            job = s.get(JobRow, job_id, with_for_update=True)
            if job is None or job.status in ("cancelled", "failed"):
                return None
            if job.status == "queued":
                job.status = "running"
                job.started_at = _now()
                job.attempts = job.attempts + 1
            return job

    def count_start(self, job_id: str, key: str) -> int:
        """Count one more run of document ``key`` of the job; the runs so far, this one
        included (retries and redeliveries alike)."""
        with self._session() as s, s.begin():
            job = s.get(JobRow, job_id, with_for_update=True)
            if job is None:
                return 1
            starts = dict(job.params.get("starts") or {})
            count = int(starts.get(key, 0)) + 1
            starts[key] = count
            job.params = {**job.params, "starts": starts}
            return count

    def record(self, job_id: str, spec: dict[str, Any], outcome: DocOutcome) -> None:
        """Count ``outcome`` once per document, finishing the job with its last document."""
        key = outcome.doc_id
        with self._session() as s, s.begin():
            job = s.get(JobRow, job_id, with_for_update=True)
            if job is None:
                return
            done = list(job.params.get("done") or [])
            if key in done:  # a redelivered task: already counted
                return
            counts = dict(job.counts or {})
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            errors = list(job.errors or [])
            if outcome.error and len(errors) < MAX_ERRORS:
                errors.append({"source_uri": outcome.source_uri, "error": outcome.error})
            job.params = {**job.params, "done": [*done, key]}
            job.counts = counts
            job.errors = errors
            job.processed = job.processed + 1
            job.chunks = job.chunks + outcome.chunks
            if job.total is not None and job.processed >= job.total:
                failed = counts.get("failed", 0)
                all_failed = failed == job.processed
                job.status = "failed" if all_failed else "done"
                job.error = errors[0]["error"] if all_failed and errors else None
                job.finished_at = _now()

    def dead_letter(
        self, task: Task, job_id: str, spec: dict[str, Any], error: str, attempts: int
    ) -> None:
        import json

        from ingest.sources import doc_id_for

        doc_id = spec.get("doc_id") or doc_id_for(spec.get("tenant", ""), spec["source_uri"])
        task_id = str(task.request.id or uuid.uuid4())
        with self._session() as s, s.begin():
            s.merge(
                DeadLetterRow(
                    task_id=task_id,
                    job_id=job_id,
                    doc_id=doc_id,
                    source_uri=spec["source_uri"],
                    error=error,
                    attempts=attempts,
                    spec=json.dumps(spec),
                    created_at=_now(),
                )
            )
        log.error("worker.dead_letter", job_id=job_id, doc_id=doc_id, attempts=attempts)
        self.record(
            job_id,
            spec,
            DocOutcome(
                doc_id, spec["source_uri"], "failed", error=f"gave up after {attempts}: {error}"
            ),
        )
