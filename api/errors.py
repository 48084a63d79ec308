"""Domain errors to HTTP, in one place, with one JSON error shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    DeepwellError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

STATUS: dict[type[DeepwellError], int] = {
    InvalidInputError: 422,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    BackendUnavailableError: 503,
    ConfigError: 500,
}


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The shape of every error the API returns."""

    error: ErrorBody


def _body(code: str, message: str) -> dict[str, dict[str, str]]:
    return ErrorResponse(error=ErrorBody(code=code, message=message)).model_dump()


def status_for(exc: DeepwellError) -> int:
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(DeepwellError)
    async def _domain(_: Request, exc: DeepwellError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        return JSONResponse(_body(exc.code, str(exc)), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        return JSONResponse(_body("invalid_input", "; ".join(parts)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthenticated", 403: "permission_denied", 404: "not_found"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
