"""Domain errors to HTTP, in one place, with one JSON error shape."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.limits import RateLimitedError
from core import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigError,
    DeepwellError,
    InvalidInputError,
    LLMTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    get_logger,
)

log = get_logger(__name__)

#: Characters of an error message written to the log.
MAX_ERROR_MESSAGE = 300


class GoneError(DeepwellError):
    """The object exists and the caller may see it, but what was asked for is gone for
    good (a document's original file moved, changed or was not kept)."""

    code = "gone"


#: First match wins: subclasses before their bases.
STATUS: dict[type[DeepwellError], int] = {
    GoneError: 410,
    InvalidInputError: 422,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    RateLimitedError: 429,
    LLMTimeoutError: 504,
    BackendUnavailableError: 503,
    ConfigError: 500,
}

_HTTP_CODES = {
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable name, e.g. `not_found`.")
    message: str = Field(description="What happened and, where there is one, what to do.")


class ErrorResponse(BaseModel):
    """The shape of every error the API returns."""

    error: ErrorBody


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return ErrorResponse(error=ErrorBody(code=code, message=message)).model_dump()


_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key.",
    403: "The key's role does not allow this.",
    404: "No such object, or the caller may not see it (the two look the same).",
    410: "Gone for good; the message says why (e.g. the original file changed since).",
    413: "The request body is over `api.max_request_mb` (uploads: `api.max_upload_mb`).",
    422: "Malformed or out-of-range input; the message names the field.",
    429: "Over `api.rate_limit_per_minute` for this key; see `Retry-After`.",
    503: "A backend (database, index, LLM endpoint) is unavailable; see `Retry-After`.",
    504: "The LLM did not finish within `llm.timeout_s`.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses, all with the error shape."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}


def status_for(exc: DeepwellError) -> int:
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def response_for(exc: DeepwellError) -> JSONResponse:
    """The HTTP response of a domain error (also used for errors inside streams)."""
    status = status_for(exc)
    headers = None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    elif status == 503:
        headers = {"Retry-After": "5"}
    elif status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if status >= 500:
        log.warning("api.error", code=exc.code, status=status, error=str(exc)[:MAX_ERROR_MESSAGE])
    return JSONResponse(error_body(exc.code, str(exc)), status_code=status, headers=headers)


def database_unavailable(exc: BaseException) -> bool:
    """Whether a SQLAlchemy error means the database is down or unreachable (retry later),
    rather than a bug: connection failures, dropped connections, an exhausted pool."""
    if isinstance(exc, PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(DeepwellError)
    async def _domain(_: Request, exc: DeepwellError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        return JSONResponse(error_body("invalid_input", "; ".join(parts)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not decode the body (not UTF-8, bad form)
            message = f"malformed request body ({exc.detail}): send UTF-8 JSON or a valid form"
            return JSONResponse(error_body("invalid_input", message), status_code=422)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database being down is a 503 the client may retry (pool_pre_ping reconnects
        # once it is back, no restart needed); any other database error is a bug.
        if database_unavailable(exc):
            return response_for(
                BackendUnavailableError(f"database unavailable ({type(exc.orig or exc).__name__})")
                if isinstance(exc, DBAPIError)
                else BackendUnavailableError("database unavailable (connection pool exhausted)")
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # One line: the type, the message capped, a plain traceback (no local variables:
        # they held keys, headers and uploaded bytes); the logging layer masks secrets.
        log.error(
            "api.unhandled",
            method=request.method,
            path=request.url.path[:200],
            error_type=type(exc).__name__,
            error=str(exc)[:MAX_ERROR_MESSAGE],
            exc_info=exc,
        )
        return JSONResponse(
            error_body("internal_error", "internal error; the server log has the details"),
            status_code=500,
        )
