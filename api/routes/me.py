"""Who am I: the principal behind the presented key (the chat page checks keys with it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import AliasChoices, AliasPath, BaseModel, ConfigDict, Field

from api.deps import CallerDep
from api.errors import error_responses
from core import Role

router = APIRouter(prefix="/v1", tags=["auth"])


def _principal(name: str) -> AliasChoices:
    """Read ``name`` from the caller's principal (or a field of that name)."""
    return AliasChoices(name, AliasPath("principal", name))


class Me(BaseModel):
    """The caller: its principal's fields and the key it presented."""

    model_config = ConfigDict(from_attributes=True)

    user: str = Field(validation_alias=_principal("user"))
    groups: list[str] = Field(validation_alias=_principal("groups"))
    tenant: str = Field(validation_alias=_principal("tenant"))
    role: Role = Field(validation_alias=_principal("role"))
    key_id: str | None = Field(description="None in development mode without a key.")
    key_prefix: str | None = Field(description="The visible start of the key, e.g. `dw_AbCd1234`.")


@router.get(
    "/me",
    response_model=Me,
    summary="The caller behind the API key",
    responses=error_responses(401, 429),
)
def me(caller: CallerDep) -> Me:
    return Me.model_validate(caller, from_attributes=True)
