"""Who am I: the principal behind the presented key (the chat page checks keys with it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CallerDep
from api.errors import error_responses
from core import Role

router = APIRouter(prefix="/v1", tags=["auth"])


class Me(BaseModel):
    user: str
    groups: list[str]
    tenant: str
    role: Role
    key_id: str | None = Field(description="None in development mode without a key.")
    key_prefix: str | None = Field(description="The visible start of the key, e.g. `dw_AbCd1234`.")


@router.get(
    "/me",
    response_model=Me,
    summary="The caller behind the API key",
    responses=error_responses(401, 429),
)
def me(caller: CallerDep) -> Me:
    p = caller.principal
    return Me(
        user=p.user,
        groups=list(p.groups),
        tenant=p.tenant,
        role=p.role,
        key_id=caller.key_id,
        key_prefix=caller.key_prefix,
    )
