"""The feedback queue: rated answers with their question, sources and comment (admin role).

What the web app's admin area lists under "Feedback". The same rule as the export
(:func:`api.export.readable_pairs`): an answer built on a passage the admin may not
read *now* (another user's private document, a deleted one) is left out whole.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import require_role
from api.deps import CallerDep, RecordsDep, ServicesDep
from api.errors import error_responses
from api.export import Withheld, readable_pairs
from api.routes.common import UtcDateTime
from retrieval import readable_chunk_ids

router = APIRouter(prefix="/v1", tags=["feedback"])

#: Most feedback rows one listing reads (newest are kept).
MAX_SCANNED = 10_000


class QueueSource(BaseModel):
    n: int
    doc_id: str
    chunk_id: str
    title: str
    source_uri: str
    page_start: int | None
    page_end: int | None


class QueueItem(BaseModel):
    feedback_id: str
    answer_id: str
    user: str = Field(description="Who rated it.")
    rating: Literal["up", "down"]
    comment: str | None
    correction: str | None
    question: str
    answer: str
    sources: list[QueueSource] = Field(description="The passages the answer cites.")
    created_at: UtcDateTime


class FeedbackQueue(BaseModel):
    feedback: list[QueueItem] = Field(description="Newest first.")
    total: int = Field(description="Rated answers listed in all pages.")
    withheld: int = Field(description="Left out: built on passages the caller may not read.")


def _source(raw: dict[str, Any]) -> QueueSource:
    return QueueSource(
        n=int(raw.get("n") or 0),
        doc_id=str(raw.get("doc_id") or ""),
        chunk_id=str(raw.get("chunk_id") or ""),
        title=str(raw.get("title") or ""),
        source_uri=str(raw.get("source_uri") or ""),
        page_start=raw.get("page_start"),
        page_end=raw.get("page_end"),
    )


@router.get(
    "/feedback",
    response_model=FeedbackQueue,
    summary="Rated answers of the caller's tenant, newest first (admin role)",
    responses=error_responses(401, 403, 422, 429),
)
def feedback_queue(
    caller: CallerDep,
    records: RecordsDep,
    services: ServicesDep,
    rating: Annotated[Literal["up", "down"] | None, Query()] = "down",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SCANNED)] = 0,
) -> FeedbackQueue:
    p = caller.principal
    require_role(p, "admin", "the feedback queue")
    withheld = Withheld()
    pairs = records.feedback(tenant=p.tenant, rating=rating)
    visible = readable_pairs(
        pairs, lambda ids: readable_chunk_ids(services.index, p, ids), withheld
    )
    kept = list(deque(visible, maxlen=MAX_SCANNED))
    kept.reverse()
    items = [
        QueueItem(
            feedback_id=pair.feedback.feedback_id,
            answer_id=pair.answer.answer_id,
            user=pair.feedback.user,
            rating="up" if pair.feedback.rating == "up" else "down",
            comment=pair.feedback.comment,
            correction=pair.feedback.correction,
            question=pair.answer.question,
            answer=pair.answer.answer,
            sources=[_source(c) for c in pair.answer.citations or []],
            created_at=pair.feedback.created_at,
        )
        for pair in kept[offset : offset + limit]
    ]
    return FeedbackQueue(feedback=items, total=len(kept), withheld=withheld.count)
