"""Documents: upload (queued for ingestion), list, read, delete, and open a cited passage.

What a caller sees follows the same rule as search (:func:`retrieval.acl.can_read`):
its tenant, and an ACL entry matching its user, one of its groups, or ``*``. A
document it may not read answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import json
import mimetypes
import shutil
import unicodedata
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import require_role
from api.deps import CallerDep, JobsDep, ServicesDep
from api.errors import GoneError, error_responses
from api.limits import MB, BodyTooLargeError
from api.policy import may_change, require_change
from api.routes.common import UtcDateTime
from api.routes.search import BoxOut
from api.services import Services
from core import PUBLIC, InvalidInputError, NotFoundError, Principal
from ingest import (
    DocState,
    DocumentRow,
    doc_id_for,
    failure_reason,
    normalize_acl,
    source_file,
)
from retrieval import can_read, read_chunk

router = APIRouter(prefix="/v1", tags=["documents"])

MAX_FILENAME = 255
MAX_METADATA_CHARS = 16_000
LIST_BATCH = 500


#: Where a document is, in the library's words.
DocStatus = Literal["queued", "ingesting", "ready", "failed"]
#: ``state=`` takes either word for where a document is.
StateFilter = Literal["queued", "ingesting", "ready", "failed", "discovered", "parsed", "indexed"]
_STAGES: dict[str, tuple[DocState, ...]] = {
    "queued": (DocState.discovered,),
    "ingesting": (DocState.discovered, DocState.parsed),
    "ready": (DocState.indexed,),
}


class DocumentOut(BaseModel):
    doc_id: str
    title: str | None
    filename: str
    source_uri: str
    state: DocStatus = Field(
        description="queued (waiting for its ingest job), ingesting (its job is running), "
        "ready (searchable) or failed (`failure_reason` says why)."
    )
    stage: DocState = Field(
        description="The registry's state: discovered, parsed, indexed or failed. A ready "
        "document being re-ingested stays indexed."
    )
    error: str | None = Field(description="The failure as recorded (see `failure_reason`).")
    failure_reason: str | None = Field(
        description="Why the last ingestion of this document failed, in the user's words; "
        "an indexed document whose new version failed keeps serving and says why here."
    )
    type: str | None = Field(description="The file type read from the content (pdf, docx, ...).")
    file_type: str | None = Field(description="The same as `type`.")
    pages: int
    chunks: int
    version: int
    acl: list[str] | None = Field(
        description="Who may read it; shown to its owner and to admins of its tenant only."
    )
    owner: str | None = Field(
        default=None, description="The user who uploaded it (None: synced from a folder)."
    )
    can_delete: bool = Field(description="Whether this caller may delete or replace it.")
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
    """The full text of one passage (what a citation points at), read from its record."""

    model_config = ConfigDict(from_attributes=True)

    doc_id: str
    chunk_id: str = Field(validation_alias=AliasChoices("chunk_id", "id"))
    title: str
    source_uri: str
    page_start: int | None
    page_end: int | None
    section: list[str]
    text: str
    boxes: list[BoxOut] = Field(
        default_factory=list,
        description="Where the passage lies, one box per page (page fractions, y downwards): "
        "what a viewer highlights on the rendered page.",
    )


def doc_status(row: DocumentRow, ingesting: bool) -> DocStatus:
    """Where a document is, in the library's words (``ingesting``: a job runs on it now)."""
    if row.state == DocState.indexed:
        return "ready"
    if row.state == DocState.failed:
        return "failed"
    return "ingesting" if ingesting or row.state == DocState.parsed else "queued"


def _out(row: DocumentRow, principal: Principal, *, ingesting: bool = False) -> DocumentOut:
    same_tenant_admin = principal.role == "admin" and principal.tenant == row.tenant
    sees_acl = same_tenant_admin or (row.owner is not None and row.owner == principal.user)
    return DocumentOut(
        doc_id=row.doc_id,
        title=row.title,
        filename=row.filename or "",
        source_uri=row.source_uri or "",
        state=doc_status(row, ingesting),
        stage=row.state,
        error=row.error,
        failure_reason=failure_reason(row.error, row.filename),
        type=row.file_type,
        file_type=row.file_type,
        pages=row.pages or 0,
        chunks=len(row.chunk_ids or []),
        version=row.version or 0,
        acl=list(row.acl or []) if sees_acl else None,
        owner=row.owner if sees_acl else None,
        can_delete=may_change(principal, row),
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
    description="In source order, narrowed by `q` (in the title, file name or issuer, "
    "ignoring case), `type` (file type) and `state`; only documents the caller may read "
    "(the same rule as search).",
    responses=error_responses(401, 422, 429),
)
def list_documents(
    caller: CallerDep,
    services: ServicesDep,
    jobs: JobsDep,
    state: Annotated[
        StateFilter | None,
        Query(
            description="queued, ingesting, ready or failed (or the registry's discovered, "
            "parsed, indexed)."
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the title, file name or issuer."),
    ] = None,
    file_type: Annotated[
        str | None,
        Query(alias="type", max_length=32, description="A file type: pdf, docx, md, ..."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DocumentList:
    principal = caller.principal
    stages = None
    if state:
        stages = _STAGES[state] if state in _STAGES else (DocState(state),)
    found: list[DocumentOut] = []
    seen = 0  # readable documents passed over (offset) or taken
    scanned = 0
    while True:
        rows = services.registry.documents(
            tenant=principal.tenant,
            states=stages,
            file_types=[file_type] if file_type else None,
            text=q.strip() if q and q.strip() else None,
            limit=LIST_BATCH,
            offset=scanned,
        )
        scanned += len(rows)
        mine = [row for row in rows if readable(principal, row)]
        active = jobs.active_documents(r.doc_id for r in mine if r.state == DocState.discovered)
        for row in mine:
            out = _out(row, principal, ingesting=row.doc_id in active)
            if state in ("queued", "ingesting") and out.state != state:
                continue
            if seen >= offset:
                if len(found) == limit:
                    return DocumentList(documents=found, next_offset=offset + limit)
                found.append(out)
            seen += 1
        if len(rows) < LIST_BATCH:
            return DocumentList(documents=found, next_offset=None)


@router.get(
    "/documents/{doc_id}",
    response_model=DocumentOut,
    summary="One document (404 when absent or not readable)",
    responses=error_responses(401, 404, 429),
)
def get_document(
    doc_id: str, caller: CallerDep, services: ServicesDep, jobs: JobsDep
) -> DocumentOut:
    row = _visible(services, caller.principal, doc_id)
    active = row.state == DocState.discovered and bool(jobs.active_documents([doc_id]))
    return _out(row, caller.principal, ingesting=active)


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
    services.audit.record(
        principal,
        caller.key_id,
        "document_deleted",
        doc_id,
        source_uri=row.source_uri,
        owner=row.owner,
    )
    return Response(status_code=204)


#: Types shown in the browser; anything else (HTML, SVG, Office files) is downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})


def media_type(row: DocumentRow) -> str:
    """The content type of a document's original, from the type its content was read as
    (then its name)."""
    for name in (f"file.{row.file_type}" if row.file_type else "", row.filename or ""):
        guessed, _ = mimetypes.guess_type(name, strict=False) if name else (None, None)
        if guessed:
            return guessed
    return "application/octet-stream"


def content_disposition(kind: str, filename: str) -> str:
    """``inline`` or ``attachment`` with the file name: an ASCII fallback and the UTF-8
    name (RFC 6266), so no name can break the header."""
    fallback = (
        "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename).strip()
        or "document"
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _why_no_upload(row: DocumentRow) -> str:
    if row.state == DocState.failed:
        return "its ingestion failed, and failed uploads are deleted (api.keep_failed_uploads)"
    if row.state != DocState.indexed:
        return "it has not been ingested yet; it is served once it is"
    return "it is no longer in the server's uploads folder"


@router.get(
    "/documents/{doc_id}/file",
    response_class=Response,
    summary="The document's original file, if the caller may read it",
    description="The bytes that were ingested, with their content type and a "
    "`Content-Disposition` naming the file (`inline` for PDFs and images, else "
    "`attachment`). An upload is served from the copy the server keeps; a document "
    "synced from a folder from its file, only while that file still holds the ingested "
    "content. 404 when the document is absent or not readable (the two look the same); "
    "410 when the original is gone, with the reason.",
    responses={
        200: {
            "description": "The original bytes, with the content type of their file type "
            "(`application/pdf`, `text/markdown`, ...).",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(401, 404, 410, 429),
    },
)
def get_file(doc_id: str, caller: CallerDep, services: ServicesDep, jobs: JobsDep) -> Response:
    row = _visible(services, caller.principal, doc_id)
    if (row.source_uri or "").startswith("upload://"):
        data = jobs.original(doc_id, row.content_sha256)
        if data is None:
            raise GoneError(f"the uploaded file is not kept: {_why_no_upload(row)}")
    else:
        found = source_file(row)
        if isinstance(found, str):
            raise GoneError(found)
        data = found
    kind = media_type(row)
    shown = "inline" if kind in INLINE_TYPES else "attachment"
    return Response(
        data,
        media_type=kind,
        headers={
            "Content-Disposition": content_disposition(shown, row.filename or "document"),
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )


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
    return ChunkOut.model_validate(chunk, from_attributes=True)
