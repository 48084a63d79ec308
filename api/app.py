"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.routes import health
from api.services import Services
from core import Settings, __version__, get_logger, get_settings

log = get_logger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. ``services`` may be given (tests); otherwise they start in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.start(settings)
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="deepwell",
        version=__version__,
        summary="Retrieval-augmented answers over private documents, with access control.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    return app
