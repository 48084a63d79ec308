"""The FastAPI application factory."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from api import errors
from api.auth import bootstrap_admin
from api.limits import MB, BodySizeLimit
from api.metrics import Metrics, MetricsMiddleware
from api.requestlog import RequestLog
from api.routes import (
    answer,
    audit,
    chat,
    conversations,
    corpus,
    documents,
    eval_report,
    feedback,
    feedback_queue,
    health,
    jobs,
    keys,
    me,
    metrics,
    search,
)
from api.routes import docs as docs_pages
from api.security import install_http_hardening
from api.services import Services
from core import ConfigError, Settings, __version__, get_logger, get_settings

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

_DESCRIPTION = """\
Every route under `/v1` needs an API key: `Authorization: Bearer dw_...` (or `X-API-Key`).
Unauthenticated: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, `/redoc`, the
chat page (`/`, `/static/...`); requests without a valid key are rate-limited per client
address (`api.anonymous_rate_limit_per_minute`). Errors always have the shape
`{"error": {"code": ..., "message": ...}}`.
"""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (development mode binds only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_upload(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/") == "/v1/documents"


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Its :class:`Services` are built once, complete, in the lifespan
    (and closed there), unless ``services`` are given (tests, ``deepwell serve``): then
    their builder closes them. With no API key yet, the lifespan creates the first admin
    key."""
    settings = settings or get_settings()
    if settings.api.dev_mode and not is_loopback(settings.api.host):
        raise ConfigError(
            "api.dev_mode runs without API keys and binds to loopback only, "
            f"not {settings.api.host}"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = services or Services.start(settings)
        app.state.services = running
        try:
            if settings.api.dev_mode:
                log.warning(
                    "api.dev_mode",
                    message="development mode: requests without an API key act as user 'dev' "
                    "(admin role); never expose this server",
                    host=settings.api.host,
                )
            bootstrap_admin(running.keys, settings)
            yield
        finally:
            if services is None:
                running.close()

    app = FastAPI(
        title="deepwell",
        version=__version__,
        summary="Retrieval-augmented answers over private documents, with access control.",
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package by api.routes.docs (no CDN, no inline script)
        redoc_url=None,
    )
    errors.install(app)
    for module in (
        health,
        metrics,
        me,
        search,
        answer,
        chat,
        conversations,
        documents,
        corpus,
        jobs,
        feedback,
        feedback_queue,
        keys,
        audit,
        eval_report,
    ):
        app.include_router(module.router)
    _mount_static(app)
    app.include_router(docs_pages.router)

    app.add_middleware(
        BodySizeLimit,
        request_bytes=int(settings.api.max_request_mb * MB),
        upload_bytes=int(settings.api.max_upload_mb * MB),
        is_upload=_is_upload,
    )
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=_metrics_of)
    install_http_hardening(app, settings)  # per-address limit, header count, security headers
    app.add_middleware(RequestLog)  # last added = outermost: logs every 4xx/5xx, 413/429 too
    return app


def _metrics_of(scope: Scope) -> Metrics | None:
    """The running app's metrics (None before the lifespan built them)."""
    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    return getattr(services, "metrics", None)


def _mount_static(app: FastAPI) -> None:
    """The chat page: ``index.html`` at ``/``, its assets under ``/static`` (when present)."""
    if not STATIC_DIR.is_dir():
        return
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def chat_page() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
