"""The API reference pages, ``/docs`` (Swagger UI) and ``/redoc``, served from the package.

FastAPI's built-in pages load their scripts from a public CDN (blank offline) and inline
a script; these are static HTML that load the vendored bundles
(``api/static/vendor/``) and, for Swagger UI, a small init script, all from this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> FileResponse:
    """Swagger UI over ``/openapi.json``."""
    return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})


@router.get("/redoc")
def redoc() -> FileResponse:
    """ReDoc over ``/openapi.json``."""
    return FileResponse(STATIC_DIR / "redoc.html", headers={"Cache-Control": "no-cache"})
