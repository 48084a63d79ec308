"""Feedback on answers, and its export as training data (JSON lines)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import has_role
from api.deps import CallerDep, RecordsDep, ServicesDep
from api.errors import error_responses
from api.export import Withheld, export_records, readable_pairs
from core import InvalidInputError, PermissionDeniedError
from retrieval import readable_chunk_ids

router = APIRouter(prefix="/v1", tags=["feedback"])

MAX_TEXT = 20_000


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(min_length=1, max_length=64, description="From the answer.")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=MAX_TEXT)
    correction: str | None = Field(
        None, max_length=MAX_TEXT, description="The answer that should have been given."
    )


class FeedbackCreated(BaseModel):
    feedback_id: str


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackCreated,
    summary="Rate an answer the caller received (a second rating replaces the first)",
    responses=error_responses(401, 404, 413, 422, 429),
)
def give_feedback(body: FeedbackRequest, caller: CallerDep, records: RecordsDep) -> JSONResponse:
    row = records.give_feedback(
        body.answer_id,
        caller.principal,
        rating=body.rating,
        comment=(body.comment or "").strip() or None,
        correction=(body.correction or "").strip() or None,
    )
    return JSONResponse({"feedback_id": row.feedback_id}, status_code=201)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


_EXPORT_DOC = """JSON lines, one training record per line.

- `kind=sft`: `{"kind": "sft", "question", "context", "answer", "messages", "source":
  "correction"|"accepted", "answer_id", "feedback_id", "rating", "citations", "model", ...}` for
  every answer rated up (the answer) or corrected (the correction).
- `kind=preference`: `{"kind": "preference", "question", "context", "prompt", "chosen",
  "rejected", ...}`: a down-rated answer (rejected) against its correction or an up-rated
  answer or correction of the same question (chosen).

Admins export their tenant's feedback; everyone else their own. Either way only answers
whose every passage the caller may read *now* are exported: roles never widen reads, so
feedback on another user's private document, or on a document since deleted, is left out
(the audit trail records how many)."""


@router.get(
    "/feedback/export",
    summary="Feedback as fine-tuning data (JSON lines)",
    description=_EXPORT_DOC,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON object per line.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 422, 429),
    },
)
def export_feedback(
    caller: CallerDep,
    records: RecordsDep,
    services: ServicesDep,
    kind: Annotated[Literal["sft", "preference"], Query()] = "sft",
    since: Annotated[datetime | None, Query(description="Feedback given at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Feedback given before.")] = None,
    rating: Annotated[Literal["up", "down"] | None, Query()] = None,
    tenant: Annotated[
        str | None, Query(max_length=128, description="Admins: their own tenant (the default).")
    ] = None,
) -> StreamingResponse:
    p = caller.principal
    if tenant is not None and tenant != p.tenant:
        raise PermissionDeniedError("feedback of another tenant cannot be exported")
    start, end = _utc(since), _utc(until)
    if start is not None and end is not None and start >= end:
        raise InvalidInputError("since must be earlier than until")
    user = None if has_role(p, "admin") else p.user
    pairs = records.feedback(tenant=p.tenant, user=user, since=start, until=end, rating=rating)
    withheld = Withheld()
    visible = readable_pairs(
        pairs, lambda ids: readable_chunk_ids(services.index, p, ids), withheld
    )
    audit = services.audit

    def lines() -> Iterator[bytes]:
        exported = 0
        try:
            for record in export_records(kind, visible):
                exported += 1
                yield (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        finally:
            audit.record(
                p,
                caller.key_id,
                "feedback_exported",
                f"feedback/{kind}",
                records=exported,
                withheld=withheld.count,
            )

    filename = f"deepwell-feedback-{kind}.jsonl"
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
