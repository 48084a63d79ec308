"""API keys of the caller's tenant (admin role): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import KeyInfo, require_role
from api.deps import CallerDep, KeysDep
from api.errors import error_responses
from api.routes.common import UtcDateTime
from core.errors import NotFoundError
from core.types import Role

router = APIRouter(prefix="/v1", tags=["auth"])


class KeyOut(BaseModel):
    key_id: str
    prefix: str
    name: str
    user: str
    groups: list[str]
    tenant: str
    role: Role
    created_at: UtcDateTime
    revoked_at: UtcDateTime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret: shown this once, stored only as a hash.")


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=256)
    groups: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=100
    )
    role: Role = "reader"
    name: str = Field("", max_length=256)


def _out(info: KeyInfo) -> KeyOut:
    return KeyOut.model_validate(info.as_dict())


@router.get(
    "/keys",
    response_model=list[KeyOut],
    summary="API keys of the caller's tenant (admin role)",
    responses=error_responses(401, 403, 422, 429),
)
def list_keys(
    caller: CallerDep,
    keys: KeysDep,
    include_revoked: Annotated[bool, Query()] = False,
) -> list[KeyOut]:
    require_role(caller.principal, "admin", "listing keys")
    tenant = caller.principal.tenant
    return [_out(k) for k in keys.list(include_revoked=include_revoked) if k.tenant == tenant]


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    summary="Create a key in the caller's tenant (admin role); the secret is shown once",
    responses=error_responses(401, 403, 413, 422, 429),
)
def create_key(body: KeyRequest, caller: CallerDep, keys: KeysDep) -> JSONResponse:
    require_role(caller.principal, "admin", "creating keys")
    info, secret = keys.create(
        user=body.user,
        groups=body.groups,
        tenant=caller.principal.tenant,
        role=body.role,
        name=body.name,
    )
    created = KeyCreated(key=secret, **_out(info).model_dump())
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key of the caller's tenant (admin role)",
    responses=error_responses(401, 403, 404, 429),
)
def revoke_key(key_id: str, caller: CallerDep, keys: KeysDep) -> Response:
    require_role(caller.principal, "admin", "revoking keys")
    if not any(
        k.key_id == key_id
        for k in keys.list(include_revoked=True)
        if k.tenant == caller.principal.tenant
    ):
        raise NotFoundError(f"no key {key_id!r}")
    keys.revoke(key_id)
    return Response(status_code=204)
