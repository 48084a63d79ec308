"""The caller's conversations, kept on the server: list, read back, delete.

The chat page keeps nothing on the device; it lists and reopens conversations
through these routes. A conversation belongs to the principal (tenant and user)
that started it: anyone else's is reported exactly like a missing one (404).
An answer is shown only while the caller may read *now* every passage it was built on
(checked against the index, as exports are): once a document is deleted, re-ingested
or re-shared away, the answers drawn from it are withheld, text and sources alike.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from api.routes.answer import CONVERSATION_ID, CitationOut
from api.routes.common import UtcDateTime
from api.services import Services
from core import Principal
from retrieval import SqlConversationStore, StoredTurn, readable_chunk_ids

router = APIRouter(prefix="/v1", tags=["conversations"])

MAX_PAGE = 100
#: Conversations carry cited passages: no cache (browser or proxy) may keep them.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def get_conversations(services: ServicesDep) -> SqlConversationStore:
    store = services.conversations
    assert isinstance(store, SqlConversationStore)
    return store


ConversationsDep = Annotated[SqlConversationStore, Depends(get_conversations)]
ConversationIdPath = Annotated[str, Path(pattern=CONVERSATION_ID)]


class ConversationOut(BaseModel):
    """One of the caller's conversations."""

    id: str
    title: str = Field(description="The first question, on one line, shortened.")
    updated_at: UtcDateTime
    turns: int = Field(description="Questions and answers together.")


class ConversationPage(BaseModel):
    conversations: list[ConversationOut] = Field(description="Most recently continued first.")
    next_offset: int | None = Field(description="`offset` of the next page; null on the last.")


class TurnOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    answer_id: str | None = Field(description="The answer this turn asked for or gave.")
    created_at: UtcDateTime
    citations: list[CitationOut] = Field(
        description="Assistant turns: the passages cited that the caller may still read."
    )
    no_answer: bool = Field(description="Assistant turns: the documents held no answer.")
    rating: Literal["up", "down"] | None = Field(
        description="Assistant turns: the caller's feedback on the answer, if any."
    )


class ConversationDetail(BaseModel):
    id: str
    turns: list[TurnOut] = Field(description="Oldest first.")


@router.get(
    "/conversations",
    response_model=ConversationPage,
    summary="The caller's own conversations, most recent first",
    responses=error_responses(401, 422, 429),
)
def list_conversations(
    caller: CallerDep,
    store: ConversationsDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ConversationPage:
    found = store.conversations(caller.principal, limit=limit + 1, offset=offset)
    response.headers.update(NO_STORE)
    return ConversationPage(
        conversations=[
            ConversationOut(
                id=c.conversation_id, title=c.title, updated_at=c.updated_at, turns=c.turns
            )
            for c in found[:limit]
        ],
        next_offset=offset + limit if len(found) > limit else None,
    )


#: What an assistant turn shows once a passage it was built on is out of the caller's reach.
WITHHELD = (
    "(This answer is no longer shown: a document it was built on was deleted or is no longer "
    "shared with you.)"
)


def _turns(services: Services, principal: Principal, stored: list[StoredTurn]) -> list[TurnOut]:
    """Turns as the caller may see them *now*: an assistant turn built on any passage the
    caller can no longer read (deleted, re-ingested, re-shared away) is withheld whole, its
    text and its citations, like an export (:func:`retrieval.passages.readable_chunk_ids`)."""
    readable = readable_chunk_ids(
        services.index, principal, {p for t in stored for p in t.passages}
    )
    out = []
    for t in stored:
        visible = set(t.passages) <= readable
        out.append(
            TurnOut(
                role=t.role,
                content=t.content if visible else WITHHELD,
                answer_id=t.answer_id,
                created_at=t.created_at,
                citations=[CitationOut.model_validate(c) for c in t.citations] if visible else [],
                no_answer=t.no_answer,
                rating="up" if t.rating == "up" else "down" if t.rating == "down" else None,
            )
        )
    return out


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    summary="One of the caller's conversations, turn by turn, with readable citations",
    responses=error_responses(401, 404, 422, 429),
)
def read_conversation(
    conversation_id: ConversationIdPath,
    caller: CallerDep,
    store: ConversationsDep,
    services: ServicesDep,
    response: Response,
) -> ConversationDetail:
    stored = store.transcript(conversation_id, caller.principal)
    response.headers.update(NO_STORE)
    return ConversationDetail(id=conversation_id, turns=_turns(services, caller.principal, stored))


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    response_class=Response,
    summary="Delete one of the caller's conversations",
    responses=error_responses(401, 404, 422, 429),
)
def delete_conversation(
    conversation_id: ConversationIdPath, caller: CallerDep, store: ConversationsDep
) -> Response:
    store.delete(conversation_id, caller.principal)
    return Response(status_code=204)
