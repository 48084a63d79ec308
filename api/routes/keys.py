"""API keys of the caller's tenant (admin role): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.auth import KeyInfo, require_role
from api.deps import CallerDep, KeysDep, ServicesDep
from api.errors import error_responses
from api.policy import check_key_grant
from api.routes.common import UtcDateTime
from core import NotFoundError, Role

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
    return KeyOut.model_validate(info, from_attributes=True)


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
    description="With `api.key_delegation = 'within-reach'` (the default) the new key can "
    "never read more than the admin creating it: its user has no key yet (or is the admin), "
    "its groups are the admin's own, and no document shared with that user is hidden from the "
    "admin. Otherwise 403, saying which rule. The CLI (`deepwell keys create`) is the operator "
    "and is not restricted.",
    responses=error_responses(401, 403, 413, 422, 429),
)
def create_key(
    body: KeyRequest, caller: CallerDep, keys: KeysDep, services: ServicesDep
) -> JSONResponse:
    admin = caller.principal
    require_role(admin, "admin", "creating keys")
    check_key_grant(
        admin,
        services.settings,
        services.registry,
        user=body.user,
        groups=body.groups,
        existing_users=(
            k.user for k in keys.list(include_revoked=True) if k.tenant == admin.tenant
        ),
    )
    info, secret = keys.create(
        user=body.user,
        groups=body.groups,
        tenant=admin.tenant,
        role=body.role,
        name=body.name,
    )
    services.audit.record(
        admin,
        caller.key_id,
        "key_created",
        info.key_id,
        user=info.user,
        groups=info.groups,
        role=info.role,
        policy=services.settings.api.key_delegation,
    )
    created = KeyCreated(key=secret, **_out(info).model_dump())
    return JSONResponse(created.model_dump(mode="json"), status_code=201)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key of the caller's tenant (admin role)",
    responses=error_responses(401, 403, 404, 429),
)
def revoke_key(key_id: str, caller: CallerDep, keys: KeysDep, services: ServicesDep) -> Response:
    require_role(caller.principal, "admin", "revoking keys")
    if not any(
        k.key_id == key_id
        for k in keys.list(include_revoked=True)
        if k.tenant == caller.principal.tenant
    ):
        raise NotFoundError(f"no key {key_id!r}")
    info = keys.revoke(key_id)
    services.audit.record(caller.principal, caller.key_id, "key_revoked", key_id, user=info.user)
    return Response(status_code=204)
