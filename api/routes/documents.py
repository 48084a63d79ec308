"""Documents: upload (queued for ingestion), list, read, delete, and open a cited passage.

What a caller sees follows the same rule as search (:func:`retrieval.acl.can_read`):
its tenant, and an ACL entry matching its user, one of its groups, or ``*``. A
document it may not read answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import require_role
from api.deps import CallerDep, JobsDep, ServicesDep
from api.errors import error_responses
from api.limits import MB, BodyTooLargeError
from api.policy import require_change
from api.routes.common import UtcDateTime
from api.services import Services
from core import PUBLIC, InvalidInputError, NotFoundError, Principal
from ingest import DocState, DocumentRow, doc_id_for, normalize_acl
from retrieval import can_read, read_chunk

router = APIRouter(prefix="/v1", tags=["documents"])

MAX_FILENAME = 255
MAX_METADATA_CHARS = 16_000
LIST_BATCH = 500


class DocumentOut(BaseModel):
    doc_id: str
    title: str | None
    filename: str
    source_uri: str
    state: DocState = Field(description="discovered (queued), parsed, indexed or failed.")
    error: str | None
    file_type: str | None
    pages: int
    chunks: int
    version: int
    acl: list[str]
    tenant: str
    metadata: dict[str, Any]
    size_bytes: int
    created_at: UtcDateTime | None
    updated_at: UtcDateTime | None
    indexed_at: UtcDateTime | None
    quality: dict[str, Any] | None = Field(
        default=None,
        description="Signals of a bad extraction (words, long_word_share, odd_char_share, "
        "empty_pages, pages_ocr, ocr_pages: the 1-based pages read by OCR, tables, reasons) "
        "and `verdict`: `ok` or `suspect`; "
        "null until the document is parsed.",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What to know about how the document was read: a suspect extraction "
        "and which parser re-read it, pages without text, a mislabelled file type.",
    )
    issuer: str | None = Field(
        default=None, description="The organisation that issued it (or its first party)."
    )
    doc_type: str | None = Field(
        default=None, description="10-K, 10-Q, annual report, contract, protocol, … as stated."
    )
    period: str | None = Field(
        default=None, description="The period it covers in words, e.g. 'Q3 FY2023 (ended …)'."
    )
    period_end: date | None = Field(default=None, description="The day its period ends.")
    docmeta: dict[str, Any] | None = Field(
        default=None,
        description="All document metadata read at ingest (parties, tickers, fiscal year and "
        "quarter, the period keys search steers by); null until parsed or when none was read.",
    )


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_offset: int | None = Field(description="Pass as `offset` for the next page; None: last.")


class UploadAccepted(BaseModel):
    doc_id: str
    job_id: str
    status: str = Field(description="The job's status: `queued`.")
    source_uri: str
    acl: list[str]


class ChunkOut(BaseModel):
    """The full text of one passage (what a citation points at)."""

    doc_id: str
    chunk_id: str
    title: str
    source_uri: str
    page_start: int | None
    page_end: int | None
    section: list[str]
    text: str


def _out(row: DocumentRow) -> DocumentOut:
    return DocumentOut(
        doc_id=row.doc_id,
        title=row.title,
        filename=row.filename or "",
        source_uri=row.source_uri or "",
        state=row.state,
        error=row.error,
        file_type=row.file_type,
        pages=row.pages or 0,
        chunks=len(row.chunk_ids or []),
        version=row.version or 0,
        acl=list(row.acl or []),
        tenant=row.tenant,
        metadata=dict(row.meta or {}),
        size_bytes=row.size_bytes or 0,
        created_at=row.created_at,
        updated_at=row.updated_at,
        indexed_at=row.indexed_at,
        quality=dict(row.quality) if row.quality else None,
        warnings=list(row.warnings or []),
        issuer=row.issuer,
        doc_type=row.doc_type,
        period=row.period,
        period_end=row.period_end,
        docmeta=dict(row.docmeta) if row.docmeta else None,
    )


def readable(principal: Principal, row: DocumentRow | None) -> bool:
    return row is not None and can_read(principal, {"tenant": row.tenant, "acl": row.acl})


def _visible(services: Services, principal: Principal, doc_id: str) -> DocumentRow:
    row = services.registry.get(doc_id)
    if row is None or not readable(principal, row):
        raise NotFoundError(f"no document {doc_id!r}")
    return row


def clean_filename(raw: str | None) -> str:
    """The client's file name as it is displayed: its last path segment, NFC-normalised,
    without control or format characters (NUL, RTL override), at most 255 characters and
    255 UTF-8 bytes (the limits of most file systems), not hidden.

    The name is only displayed and part of the document's URI: the bytes are stored
    under a name that does not depend on it (:meth:`ingest.jobs.JobQueue.store_upload`).

    Raises:
        InvalidInputError: the name is empty, hidden or too long; the reason says which.
    """
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    shown = repr(raw if raw is None or len(raw) <= 80 else raw[:80] + "...")
    if not name or name.strip(".") == "":
        raise InvalidInputError(f"file: invalid file name {shown} (no name left once cleaned)")
    if name.startswith("."):
        raise InvalidInputError(f"file: invalid file name {shown} (hidden: starts with a dot)")
    if len(name) > MAX_FILENAME:
        raise InvalidInputError(
            f"file: the file name is {len(name)} characters, over the limit of {MAX_FILENAME} "
            "characters"
        )
    size = len(name.encode("utf-8"))
    if size > MAX_FILENAME:
        raise InvalidInputError(
            f"file: the file name is {size} bytes in UTF-8 ({len(name)} characters), over the "
            f"limit of {MAX_FILENAME} bytes"
        )
    return name


def _metadata(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    if len(raw) > MAX_METADATA_CHARS:
        raise InvalidInputError(f"metadata: at most {MAX_METADATA_CHARS} characters of JSON")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"metadata: not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidInputError('metadata: a JSON object, e.g. {"kind": "memo"}')
    return value


def upload_acl(principal: Principal, requested: list[str] | None) -> list[str]:
    """The ACL of an upload: what was asked for plus the uploader; just the uploader by default.

    ``*`` (everyone in the tenant) only when asked for explicitly.
    """
    entries: list[str] = []
    for item in requested or []:
        entries += [e for e in item.split(",") if e.strip()]  # "a,b" in one form field works too
    acl = set(normalize_acl(entries))
    if PUBLIC in acl:
        require_role(principal, "writer", "a public ('*') document")
    acl.add(f"user:{principal.user}")
    return sorted(acl)


@router.post(
    "/documents",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload a document; it is queued for ingestion",
    description="Multipart form: `file`, optional `acl` (repeat the field, or comma-separated: "
    "`user:ID`, `group:ID`, `*`), optional `metadata` (a JSON object). The uploader is always "
    "in the ACL; by default only the uploader may read the document. Uploading the same file "
    "name again replaces the document with a new version. Needs the writer role.",
    responses=error_responses(401, 403, 413, 422, 429),
)
async def upload(
    caller: CallerDep,
    services: ServicesDep,
    jobs: JobsDep,
    file: Annotated[UploadFile, File(description="The document.")],
    acl: Annotated[list[str] | None, Form(description="Who may read it.")] = None,
    metadata: Annotated[str | None, Form(description="A JSON object.")] = None,
) -> JSONResponse:
    principal = caller.principal
    require_role(principal, "writer", "uploading documents")
    filename = clean_filename(file.filename)
    access = upload_acl(principal, acl)
    meta = _metadata(metadata)
    limit = int(services.settings.api.max_upload_mb * MB)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLargeError(limit, "api.max_upload_mb")
    if not data:
        raise InvalidInputError("file: the upload is empty")
    source_uri = (
        f"upload://{quote(principal.tenant, safe='')}/{quote(principal.user, safe='')}/"
        f"{quote(filename, safe='')}"
    )
    doc_id = doc_id_for(principal.tenant, source_uri)

    def queue() -> Any:
        created = services.registry.get(doc_id) is None
        if created:  # listed as pending until the job runs
            services.registry.upsert(
                doc_id,
                tenant=principal.tenant,
                source_uri=source_uri,
                filename=filename,
                state=DocState.discovered,
                size_bytes=len(data),
                acl=access,
                meta=meta,
                owner=principal.user,
            )
        try:
            path = jobs.store_upload(doc_id, filename, data)
            return jobs.submit_upload(
                principal,
                caller.key_id,
                doc_id=doc_id,
                path=path,
                filename=filename,
                source_uri=source_uri,
                acl=access,
                metadata=meta,
            )
        except BaseException:
            # Nothing was queued: no row may stay "discovered" for a job that never runs.
            if created:
                jobs.discard_upload(doc_id)
                services.registry.remove(doc_id)
            raise

    job = await run_in_threadpool(queue)
    body = UploadAccepted(
        doc_id=doc_id, job_id=job.job_id, status=job.status, source_uri=source_uri, acl=access
    )
    return JSONResponse(
        body.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job.job_id}"}
    )


@router.get(
    "/documents",
    response_model=DocumentList,
    summary="Documents the caller may read",
    responses=error_responses(401, 422, 429),
)
def list_documents(
    caller: CallerDep,
    services: ServicesDep,
    state: Annotated[DocState | None, Query(description="Only documents in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DocumentList:
    principal = caller.principal
    found: list[DocumentOut] = []
    seen = 0  # readable documents passed over (offset) or taken
    scanned = 0
    while True:
        rows = services.registry.documents(
            tenant=principal.tenant,
            states=[state] if state else None,
            limit=LIST_BATCH,
            offset=scanned,
        )
        scanned += len(rows)
        for row in rows:
            if not readable(principal, row):
                continue
            if seen >= offset:
                if len(found) == limit:
                    return DocumentList(documents=found, next_offset=offset + limit)
                found.append(_out(row))
            seen += 1
        if len(rows) < LIST_BATCH:
            return DocumentList(documents=found, next_offset=None)


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentOut,
    summary="One document (404 when absent or not readable)",
    responses=error_responses(401, 404, 429),
)
def get_document(doc_id: str, caller: CallerDep, services: ServicesDep) -> DocumentOut:
    return _out(_visible(services, caller.principal, doc_id))


@router.delete(
    "/documents/{doc_id}",
    status_code=204,
    summary="Delete a document and its chunks (its owner, or an admin of its tenant)",
    description="Needs read access to the document (else 404, as if absent), the writer "
    "role, and being its owner (the user who uploaded it) or an admin of its tenant (else "
    "403). Documents synced from a folder have no owner: only admins delete them. Each "
    "deletion is recorded in the audit trail.",
    responses=error_responses(401, 403, 404, 429),
)
def delete_document(
    doc_id: str, caller: CallerDep, services: ServicesDep, jobs: JobsDep
) -> Response:
    principal = caller.principal
    row = _visible(services, principal, doc_id)
    require_change(principal, row, "deleting this document")
    jobs.cancel_for_document(doc_id)
    ingestor = services.ingestor()
    try:
        ingestor.delete(doc_id)
    finally:
        ingestor.close()
    shutil.rmtree(jobs.uploads_dir / doc_id, ignore_errors=True)
    assert services.audit is not None
    services.audit.record(
        principal,
        caller.key_id,
        "document_deleted",
        doc_id,
        source_uri=row.source_uri,
        owner=row.owner,
    )
    return Response(status_code=204)


@router.get(
    "/documents/{doc_id}/chunks/{chunk_id}",
    response_model=ChunkOut,
    summary="The full text of one passage (a citation), if the caller may read it",
    responses=error_responses(401, 404, 429),
)
def get_chunk(doc_id: str, chunk_id: str, caller: CallerDep, services: ServicesDep) -> ChunkOut:
    chunk = read_chunk(services.index, caller.principal, doc_id, chunk_id)
    if chunk is None:
        raise NotFoundError(f"no passage {chunk_id!r} in document {doc_id!r}")
    return ChunkOut(
        doc_id=chunk.doc_id,
        chunk_id=chunk.id,
        title=chunk.title,
        source_uri=chunk.source_uri,
        page_start=chunk.page_start,
        page_end=chunk.page_end,
        section=list(chunk.section),
        text=chunk.text,
    )
