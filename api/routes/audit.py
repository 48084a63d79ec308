"""The audit trail of the caller's tenant (admin role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import require_role
from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from api.routes.common import UtcDateTime

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AuditEventOut(BaseModel):
    event_id: str
    at: UtcDateTime
    user: str = Field(description="Who did it.")
    key_id: str | None = Field(description="With which key (None: development mode).")
    action: str = Field(
        description="`document_deleted`, `key_created`, `key_revoked`, `feedback_exported`."
    )
    target: str = Field(description="The object: a document id, a key id, an export.")
    detail: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_offset: int | None = Field(description="Pass as `offset` for the next page; None: last.")


@router.get(
    "/audit",
    response_model=AuditPage,
    summary="Changes made in the caller's tenant, newest first (admin role)",
    responses=error_responses(401, 403, 422, 429),
)
def audit_events(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    require_role(caller.principal, "admin", "reading the audit trail")
    rows = services.audit.events(caller.principal.tenant, limit=limit + 1, offset=offset)
    events = [
        AuditEventOut(
            event_id=r.event_id,
            at=r.at,
            user=r.user,
            key_id=r.key_id,
            action=r.action,
            target=r.target,
            detail=dict(r.detail or {}),
        )
        for r in rows[:limit]
    ]
    return AuditPage(events=events, next_offset=offset + limit if len(rows) > limit else None)
