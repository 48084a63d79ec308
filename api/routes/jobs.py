"""Ingest jobs: folder sync (admins, under ``ingest.allowed_roots``) and job status."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import has_role, require_role
from api.deps import CallerDep, JobsDep, ServicesDep
from api.errors import error_responses
from api.routes.common import UtcDateTime
from core import InvalidInputError, NotFoundError, PermissionDeniedError
from ingest import JobRow, normalize_acl

router = APIRouter(prefix="/v1", tags=["ingest"])


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


class JobOut(BaseModel):
    job_id: str
    kind: str = Field(description="`upload` or `sync`.")
    status: str = Field(description="queued, running, done, failed or cancelled.")
    tenant: str
    user: str
    doc_id: str | None
    total: int | None = Field(description="Documents in the job (known once it runs).")
    processed: int
    progress: float | None = Field(description="processed / total, 0..1.")
    counts: dict[str, int] = Field(description="Documents indexed, unchanged, failed, deleted.")
    chunks: int
    errors: list[dict[str, str]] = Field(description="`source_uri` and `error` per failure.")
    error: str | None
    created_at: UtcDateTime | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


def job_out(row: JobRow) -> JobOut:
    total = row.total
    return JobOut(
        job_id=row.job_id,
        kind=row.kind,
        status=row.status,
        tenant=row.tenant,
        user=row.user,
        doc_id=row.doc_id,
        total=total,
        processed=row.processed,
        progress=(min(1.0, row.processed / total) if total else None),
        counts=dict(row.counts or {}),
        chunks=row.chunks,
        errors=list(row.errors or []),
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
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
