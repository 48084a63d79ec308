"""Liveness and readiness (unauthenticated, and saying nothing about the deployment), and
what the server runs on (admins only).

``/healthz`` and ``/readyz`` are for load balancers and orchestrators: status and version,
no paths, backends or counts. The details (backends and their locations, index size,
warnings) are at ``GET /v1/admin/health``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import require_role
from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from core import __version__, ping
from retrieval import index_warnings

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The server is up."""

    status: Literal["ok"] = "ok"
    version: str


class Ready(BaseModel):
    """The database and the index answer."""

    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok"]] = Field(description="`database` and `index`.")


class AdminHealth(BaseModel):
    """The server is up; the backends it was started with and what to act on."""

    status: Literal["ok"] = "ok"
    version: str
    backends: dict[str, dict[str, Any]] = Field(
        description="`index`, `database`, `embedding` and `llm`: backend name, location "
        "and, for the index, its size."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Things to act on, e.g. an embedded index past index.embedded_warn_points.",
    )


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    return Health(version=__version__)


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness: database and index answer",
    responses={503: {"description": "A backend is unreachable (with Retry-After)."}},
)
def readyz(services: ServicesDep) -> Ready:
    ping(services.engine)
    services.index.count()
    return Ready(checks={"database": "ok", "index": "ok"})


@router.get(
    "/v1/admin/health",
    response_model=AdminHealth,
    summary="Backends in use, their locations and warnings (admin)",
    responses=error_responses(401, 403, 429),
)
def admin_health(caller: CallerDep, services: ServicesDep) -> AdminHealth:
    require_role(caller.principal, "admin", "the server's health details")
    backends = services.backends()
    warnings = index_warnings(services.settings, backends["index"])
    return AdminHealth(version=__version__, backends=backends, warnings=warnings)
