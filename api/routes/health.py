"""Liveness, readiness and what the server runs on. Unauthenticated by design."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.services import index_warnings
from core import __version__
from core.db import ping

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The server is up; the backends it was started with."""

    status: Literal["ok"] = "ok"
    version: str
    backends: dict[str, dict[str, Any]] = Field(
        description="`index`, `database`, `embedding` and `llm`: backend name and location."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Things to act on, e.g. an embedded index past index.embedded_warn_points.",
    )


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness and backends in use")
def healthz(services: ServicesDep) -> Health:
    backends = services.backends()
    warnings = index_warnings(services.settings, backends["index"])
    return Health(version=__version__, backends=backends, warnings=warnings)


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness: database and index answer",
    responses={503: {"description": "A backend is unreachable (with Retry-After)."}},
)
def readyz(services: ServicesDep) -> Ready:
    ping(services.engine)
    points = services.index.count()
    return Ready(checks={"database": "ok", "index": f"ok ({points} points)"})
