"""Request limits: body size (413) and rate limits (429 with Retry-After).

The rate limiter is a token bucket per key, in process memory: each key may
burst up to ``per_minute`` requests and then gets that many per minute. One
instance limits each API key (``api.rate_limit_per_minute``), another each client
address without a valid key (``api.anonymous_rate_limit_per_minute``, keys
``addr:<host>``; see :mod:`api.security`). Body sizes are checked before the body
is read (``Content-Length``) and while it streams in (chunked uploads), so an
oversized upload is refused without being stored.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import DeepwellError

MB = 1_000_000


class RateLimitedError(DeepwellError):
    """The key (or client address) sent more requests than its rate limit allows; retry later."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by a string: ``per_minute`` tokens, refilled continuously.

    ``per`` names what a key stands for in the 429 message ("key", "client address
    without a valid key"). ``clock`` is injectable for tests. ``per_minute`` 0 turns
    limiting off.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        per: str = "key",
    ) -> None:
        self.per_minute = per_minute
        self.per = per
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def check(self, key: str) -> None:
        """Take one token for ``key``; :class:`RateLimitedError` when there is none."""
        if self.per_minute <= 0:
            return
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                self._sweep(now)
                return
            wait = (1.0 - bucket.tokens) / self.rate
        raise RateLimitedError(
            f"rate limit of {self.per_minute} requests per minute per {self.per} reached; "
            f"retry in {math.ceil(wait)} s",
            retry_after_s=wait,
        )

    def refund(self, key: str) -> None:
        """Give back the token :meth:`check` took for ``key`` (the request turned out not
        to count, e.g. a key check that succeeded)."""
        if self.per_minute <= 0:
            return
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.tokens = min(self.capacity, bucket.tokens + 1.0)

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled completely (every minute at most)."""
        if now - self._last_sweep < 60.0:
            return
        self._last_sweep = now
        full_after = self.capacity / self.rate
        for key in [k for k, b in self._buckets.items() if now - b.updated > full_after]:
            del self._buckets[key]


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a body grows past its limit (FastAPI re-raises it)."""

    def __init__(self, limit_bytes: int, setting: str) -> None:
        super().__init__(
            status_code=413,
            detail=f"request body too large: the limit is {limit_bytes / MB:g} MB ({setting})",
        )


class BodySizeLimit:
    """ASGI middleware: at most ``upload_bytes`` for uploads, ``request_bytes`` for the rest.

    ``is_upload(method, path)`` says which limit applies.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        request_bytes: int,
        upload_bytes: int,
        is_upload: Callable[[str, str], bool],
    ) -> None:
        self.app = app
        self.request_bytes = request_bytes
        self.upload_bytes = upload_bytes
        self.is_upload = is_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.is_upload(scope["method"], scope["path"]):
            limit, setting = self.upload_bytes, "api.max_upload_mb"
        else:
            limit, setting = self.request_bytes, "api.max_request_mb"
        error = BodyTooLargeError(limit, setting)
        length = _content_length(scope)
        if length is not None and length > limit:
            await _send_413(send, error)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise error
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await _send_413(send, error)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, error: BodyTooLargeError) -> None:
    body = json.dumps({"error": {"code": "payload_too_large", "message": error.detail}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
