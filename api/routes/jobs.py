"""Ingest jobs: folder sync (admins, under ``ingest.allowed_roots``) and job status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import has_role, require_role
from api.deps import CallerDep, JobsDep, ServicesDep
from api.errors import error_responses
from api.routes.common import UtcDateTime
from core import InvalidInputError, NotFoundError, PermissionDeniedError
from ingest import JobRow, failure_reason, normalize_acl

router = APIRouter(prefix="/v1", tags=["ingest"])

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, max_length=4096, description="A folder under one of ingest.allowed_roots."
    )
    acl: list[str] | None = Field(
        None,
        max_length=1000,
        description="Who may read documents without a sidecar or folder rule "
        "(default: ingest.default_acl).",
    )
    include: list[str] = Field(default_factory=list, max_length=100)
    exclude: list[str] = Field(default_factory=list, max_length=100)
    prune: bool = Field(False, description="Delete documents whose files are gone.")
    force: bool = Field(False, description="Re-index unchanged documents too.")


class JobDocuments(BaseModel):
    total: int = Field(description="Documents in the job (0 until a folder sync is listed).")
    done: int = Field(description="Documents finished, failed ones included.")
    failed: int


class JobPages(BaseModel):
    done: int = Field(description="Pages read so far (a PDF's, page by page as it is parsed).")
    total: int = Field(description="Pages of the job's documents known so far.")


class JobError(BaseModel):
    document: str = Field(description="The document's file name.")
    reason: str = Field(description="Why it failed, in words meant for the person who sent it.")
    source_uri: str
    error: str = Field(description="The error as recorded (for administrators and scripts).")


class JobOut(BaseModel):
    job_id: str
    kind: Literal["upload", "sync"] = Field(description="`upload` or `sync` (a folder sync).")
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    tenant: str
    user: str = Field(description="Who submitted it.")
    doc_id: str | None = Field(description="The uploaded document (uploads only).")
    total: int | None = Field(description="Documents in the job (known once it runs).")
    processed: int = Field(description="Documents finished, failed ones included.")
    progress: float = Field(
        ge=0.0,
        le=1.0,
        description="0..1: documents done plus the share of the current one (its first half "
        "by the pages read, the second by the chunks embedded); 1 once done.",
    )
    documents: JobDocuments
    pages: JobPages
    counts: dict[str, int] = Field(description="Documents indexed, unchanged, failed, deleted.")
    chunks: int
    errors: list[JobError] = Field(description="Each failed document and why (at most 100).")
    error: str | None = Field(description="Why the job as a whole failed, if it did.")
    created_at: UtcDateTime | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    updated_at: UtcDateTime | None = Field(description="The job's last change.")


class JobList(BaseModel):
    jobs: list[JobOut] = Field(description="Newest first.")
    total: int = Field(description="Jobs matching, over all pages.")


class DeadLetterOut(BaseModel):
    task_id: str
    job_id: str
    kind: Literal["upload", "sync"]
    user: str = Field(description="Who submitted the job.")
    doc_id: str | None
    document: str = Field(description="The document's file name.")
    source_uri: str
    reason: str = Field(description="Why it was given up, in words.")
    error: str
    attempts: int
    created_at: UtcDateTime | None


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="Newest first.")
    total: int


def _document_name(source_uri: str) -> str:
    return unquote(source_uri.rstrip("/").rsplit("/", 1)[-1]) or source_uri


def _job_error(item: dict[str, str]) -> JobError:
    uri, error = item.get("source_uri", ""), item.get("error", "")
    name = _document_name(uri)
    return JobError(
        document=name,
        reason=failure_reason(error, name) or "",
        source_uri=uri,
        error=error,
    )


def job_out(row: JobRow) -> JobOut:
    total, processed = row.total, row.processed or 0
    counts = dict(row.counts or {})
    if row.status == "done":
        progress = 1.0
    elif row.progress is not None:
        progress = row.progress
    else:  # jobs recorded before pages were, and the Celery queue: documents done
        progress = processed / total if total else 0.0
    return JobOut(
        job_id=row.job_id,
        kind="sync" if row.kind == "sync" else "upload",
        status=row.status,
        tenant=row.tenant,
        user=row.user,
        doc_id=row.doc_id,
        total=total,
        processed=processed,
        progress=min(1.0, max(0.0, progress)),
        documents=JobDocuments(
            total=total or 0, done=processed, failed=int(counts.get("failed", 0))
        ),
        pages=JobPages(done=row.pages_done or 0, total=row.pages_total or 0),
        counts=counts,
        chunks=row.chunks,
        errors=[_job_error(e) for e in row.errors or []],
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at or row.finished_at or row.started_at or row.created_at,
    )


def _allowed(path: str, roots: list[Path]) -> Path:
    if not roots:
        raise PermissionDeniedError(
            "folder sync over the API is off: set ingest.allowed_roots to the folders it may read"
        )
    if "\x00" in path:
        raise InvalidInputError("path: contains a NUL character")
    target = Path(path).expanduser().resolve()
    for root in roots:
        if target.is_relative_to(root.expanduser().resolve()):
            if not target.exists():
                raise InvalidInputError(f"path: {path} does not exist")
            return target
    raise PermissionDeniedError(
        f"path: {path} is outside ingest.allowed_roots ({', '.join(str(r) for r in roots)})"
    )


@router.post(
    "/ingest",
    status_code=202,
    response_model=JobOut,
    summary="Sync a server-side folder into the index (admin role)",
    responses=error_responses(401, 403, 413, 422, 429),
)
def sync_folder(
    body: SyncRequest, caller: CallerDep, services: ServicesDep, jobs: JobsDep
) -> JSONResponse:
    principal = caller.principal
    require_role(principal, "admin", "folder ingestion")
    settings = services.settings
    target = _allowed(body.path, settings.ingest.allowed_roots)
    acl = normalize_acl(body.acl if body.acl is not None else settings.ingest.default_acl)
    job = jobs.submit_sync(
        principal,
        caller.key_id,
        path=target,
        tenant=principal.tenant,
        acl=acl,
        include=body.include,
        exclude=body.exclude,
        prune=body.prune,
        force=body.force,
    )
    return JSONResponse(
        job_out(job).model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/jobs/{job.job_id}"},
    )


@router.get(
    "/jobs",
    response_model=JobList,
    summary="Ingest jobs: an admin's tenant's, anyone else's own",
    description="Newest first. An admin sees every job of its tenant; other keys see the "
    "jobs they submitted. `state` keeps jobs in one status.",
    responses=error_responses(401, 422, 429),
)
def list_jobs(
    caller: CallerDep,
    jobs: JobsDep,
    state: Annotated[JobState | None, Query(description="Only jobs in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JobList:
    p = caller.principal
    rows, total = jobs.jobs(
        p.tenant,
        user=None if has_role(p, "admin") else p.user,
        status=state,
        limit=limit,
        offset=offset,
    )
    return JobList(jobs=[job_out(r) for r in rows], total=total)


@router.get(
    "/jobs/dead-letters",
    response_model=DeadLetterList,
    summary="Documents given up after every attempt (admin role)",
    description="Documents of the admin's tenant whose ingestion kept failing or kept "
    "crashing its worker, with the reason; newest first.",
    responses=error_responses(401, 403, 422, 429),
)
def list_dead_letters(
    caller: CallerDep,
    jobs: JobsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeadLetterList:
    p = caller.principal
    require_role(p, "admin", "the dead letters")
    rows, total = jobs.dead_letters(p.tenant, limit=limit, offset=offset)
    out = []
    for dead, job in rows:
        name = _document_name(dead.source_uri)
        out.append(
            DeadLetterOut(
                task_id=dead.task_id,
                job_id=dead.job_id,
                kind="sync" if job.kind == "sync" else "upload",
                user=job.user,
                doc_id=dead.doc_id,
                document=name,
                source_uri=dead.source_uri,
                reason=failure_reason(dead.error, name) or "",
                error=dead.error,
                attempts=dead.attempts,
                created_at=dead.created_at,
            )
        )
    return DeadLetterList(dead_letters=out, total=total)


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="Status and progress of an ingest job (its creator, or an admin of its tenant)",
    responses=error_responses(401, 404, 429),
)
def get_job(job_id: str, caller: CallerDep, jobs: JobsDep) -> JobOut:
    p = caller.principal
    row = jobs.get(job_id)
    if row is None or row.tenant != p.tenant or (row.user != p.user and not has_role(p, "admin")):
        raise NotFoundError(f"no job {job_id!r}")
    return job_out(row)
