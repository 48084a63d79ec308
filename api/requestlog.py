"""The request log: every 4xx/5xx response is one structured line, ``api.request_failed``.

Fields: method, route (the template, ``/v1/documents/{doc_id}``, when a route matched;
else the path), status, the error ``code`` and ``reason`` read from the JSON error body,
the principal (user and key id, once authentication has stored the caller in the
request state) and the client address. Never headers, never bodies: the response body
is read only for its error code and message, and the reason is capped (the logging
layer masks any secret in it, like in every other field).

5xx are logged at error level, 401/403/429 at warning (someone knocking), the other
4xx at info. It is the outermost middleware, so it also sees the 413 of the body
limit and the 429 of the rate limits, which no route handler produces.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import get_logger

log = get_logger(__name__)

#: Bytes of an error response body kept to read its code and message.
MAX_ERROR_BODY = 8_192
#: Characters kept of the error message, and of a path that matched no route.
MAX_REASON = 300
MAX_PATH = 200
_KNOCKING = frozenset({401, 403, 429})


def level_for(status: int) -> str:
    """The log level of a failed response's line."""
    if status >= 500:
        return "error"
    return "warning" if status in _KNOCKING else "info"


def error_of(body: bytes) -> tuple[str | None, str | None]:
    """``(code, message)`` of a JSON error body (``{"error": {"code", "message"}}``, the
    API's shape, or ``{"error": {"type", "message"}}``, the OpenAI-compatible one);
    ``(None, None)`` when the body is something else or was cut short."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code") or error.get("type")
    message = error.get("message")
    return (
        str(code) if code is not None else None,
        str(message)[:MAX_REASON] if message is not None else None,
    )


def route_of(scope: Scope) -> str:
    """The route template of the request, found again when routing never ran (a 413 sent
    by a middleware); else the path, capped."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    for candidate in iter_route_contexts(routes):  # routes of included routers, flattened
        match, _ = candidate.matches(scope)
        if match == Match.FULL and isinstance(candidate.path, str):
            return candidate.path
    return str(scope.get("path", ""))[:MAX_PATH]


def principal_of(scope: Scope) -> dict[str, str | None]:
    """``user`` and ``key_id`` of the authenticated caller (empty before authentication)."""
    caller = (scope.get("state") or {}).get("caller")
    principal = getattr(caller, "principal", None)
    if principal is None:
        return {}
    return {"user": getattr(principal, "user", None), "key_id": getattr(caller, "key_id", None)}


class RequestLog:
    """ASGI middleware writing the one ``api.request_failed`` line of each failed request.

    An exception escaping the app is logged as a 500 (Starlette's error middleware, outside
    this one, answers it with the generic 500) and re-raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400:
                room = MAX_ERROR_BODY + 1 - len(body)
                if room > 0:
                    body.extend(bytes(message.get("body", b""))[:room])
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            # Not started: the 500 that Starlette sends; started: the status the client got
            # before the response broke off.
            _log_failure(scope, status or 500, "internal_error", type(exc).__name__, "error")
            raise
        if status >= 400:
            code, reason = error_of(bytes(body)) if len(body) <= MAX_ERROR_BODY else (None, None)
            _log_failure(scope, status, code, reason, level_for(status))


def _log_failure(
    scope: Scope, status: int, code: str | None, reason: str | None, level: str
) -> None:
    client = scope.get("client")
    fields: dict[str, Any] = {
        "method": scope.get("method"),
        "route": route_of(scope),
        "status": status,
        "code": code,
        "reason": reason,
        **principal_of(scope),
        "client": client[0] if client else None,
    }
    getattr(log, level)("api.request_failed", **fields)
