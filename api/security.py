"""HTTP hardening at the edge: bounded request heads, a rate limit per client address for
requests without a valid key, and security headers on every response.

- The request head (request line and headers) is bounded by the server itself
  (:func:`uvicorn_options`: uvicorn's h11 protocol with ``api.max_header_kb``; the
  httptools protocol has no such limit), so an oversized head is refused before any
  of it reaches the app. :class:`HeaderCountLimit` also refuses more than
  :data:`MAX_HEADERS` header lines (431).
- :class:`AddressRateLimit` takes a token of the client address's bucket
  (``api.anonymous_rate_limit_per_minute``) for every request, before routing;
  :func:`api.deps.get_caller` gives it back (:func:`release_address_token`) once the
  request proves a valid key (or is development mode's principal). So what the bucket
  counts is requests without a valid key: no key, a malformed, unknown or revoked one,
  any request to a route that checks no key (``/healthz``, ``/docs``, static files, a
  404), and one refused before its key is checked (a body that is not JSON). An address
  whose bucket is empty gets 429 before its key is looked up, so keys cannot be guessed
  at full speed. The client address is the ASGI scope's (uvicorn applies
  ``api.forwarded_allow_ips`` to it: behind a proxy, list the proxy there); an IPv6
  client counts per /64, which it could otherwise walk for fresh buckets. The buckets
  live in ``api.rate_limit_storage_url`` (Redis: shared by every replica), and a
  storage that is down answers 503.
- :class:`SecurityHeaders` adds ``nosniff``, ``X-Frame-Options``, ``Referrer-Policy``
  to every response and a Content-Security-Policy without inline script to HTML.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body, response_for
from api.limits import RateLimiter, address_bucket
from core import DeepwellError, Settings

#: Most header lines a request may carry (browsers send about 20); more gets 431.
MAX_HEADERS = 100

#: Where the request state records the address token taken for the request.
_STATE_KEY = "address_bucket"

#: Every HTML page (the chat page, Swagger UI at ``/docs``): scripts and styles only from
#: this origin, no framing. Swagger UI sets its styles through the DOM, which CSP allows.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
#: ReDoc (``/redoc``) injects ``<style>`` elements (styled-components) and builds its
#: search index in a worker from a ``blob:`` URL. Still no inline script and no eval.
REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)

#: On every response.
ALWAYS_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

#: How long browsers may reuse the static files without asking again (none are secret).
STATIC_CACHE_CONTROL = "public, max-age=300"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for a deepwell server.

    The h11 protocol bounds the request head at ``api.max_header_kb`` (h11 answers a
    larger one with 400 and closes the connection); uvicorn's default, httptools when
    installed, accepts heads of any size.
    """
    return {
        "host": settings.api.host,
        "port": settings.api.port,
        "http": "h11",
        "h11_max_incomplete_event_size": settings.api.max_header_kb * 1024,
        "proxy_headers": True,
        "forwarded_allow_ips": ",".join(settings.api.forwarded_allow_ips),
        "log_config": None,
        "access_log": False,
    }


def address_key(scope: Scope) -> str:
    """The rate-limit key of the request's client address (:func:`api.limits.address_bucket`:
    an IPv6 client counts per /64)."""
    client = scope.get("client")
    return address_bucket(client[0] if client else None)


def address_limiter(app: Any) -> RateLimiter | None:
    """The per-address limiter :func:`install_http_hardening` put on ``app`` (None if not)."""
    limiter: RateLimiter | None = getattr(getattr(app, "state", None), "address_limiter", None)
    return limiter


class HeaderCountLimit:
    """ASGI middleware: 431 for a request with more than ``max_headers`` header lines."""

    def __init__(self, app: ASGIApp, *, max_headers: int = MAX_HEADERS) -> None:
        self.app = app
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope.get("headers", ())) > self.max_headers:
            body = error_body(
                "headers_too_large",
                f"too many request headers: the limit is {self.max_headers}",
            )
            response = JSONResponse(body, status_code=431, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class AddressRateLimit:
    """ASGI middleware: every request takes a token of its client address's bucket; with
    none left it gets 429 and ``Retry-After``. The token is recorded in the request state
    for :func:`release_address_token`."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = address_key(scope)
        try:
            if self.limiter.shared:  # a Redis round trip: off the event loop
                await run_in_threadpool(self.limiter.check, key)
            else:
                self.limiter.check(key)
        except DeepwellError as exc:  # 429, or 503 when the limiter's storage is down
            await response_for(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = key
        await self.app(scope, receive, send)


def release_address_token(scope: Scope) -> None:
    """Give back the address token :class:`AddressRateLimit` took for this request: the
    request proved a valid key, and valid keys have their own limit. At most once."""
    key = (scope.get("state") or {}).pop(_STATE_KEY, None)
    limiter = address_limiter(scope.get("app"))
    if key is not None and limiter is not None:
        limiter.refund(key)


def csp_for(path: str) -> str:
    """The Content-Security-Policy of an HTML response at ``path``."""
    return REDOC_CSP if path.rstrip("/") == "/redoc" else HTML_CSP


class SecurityHeaders:
    """ASGI middleware: security headers on every response, a CSP on HTML ones.

    Headers a route set itself are kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS_HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
                if path.startswith("/static/") and "cache-control" not in headers:
                    # The page's modules, styles and pdf.js: kept by the browser for a few
                    # minutes, so reloading the page costs one request of the per-address
                    # budget, not one per file (~11 for the web app).
                    headers.append("Cache-Control", STATIC_CACHE_CONTROL)
                html = headers.get("content-type", "").startswith("text/html")
                if html and "content-security-policy" not in headers:
                    headers.append("Content-Security-Policy", csp_for(path))
            await send(message)

        await self.app(scope, receive, with_headers)


def install_http_hardening(app: FastAPI, settings: Settings) -> None:
    """Add the per-address rate limit, the header-count limit and the security headers to
    ``app`` (outermost, so their answers carry the headers too). Call it last in
    :func:`api.app.create_app`."""
    limiter = RateLimiter(
        settings.api.anonymous_rate_limit_per_minute,
        storage=settings.api.rate_limit_storage_url.get_secret_value(),
        scope="address",
        per="client address without a valid key (api.anonymous_rate_limit_per_minute)",
    )
    app.state.address_limiter = limiter
    app.add_middleware(AddressRateLimit, limiter=limiter)
    app.add_middleware(HeaderCountLimit)
    app.add_middleware(SecurityHeaders)
