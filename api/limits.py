"""Request limits: body size (413) and rate limits (429 with Retry-After).

A :class:`RateLimiter` allows ``per_minute`` requests per key in any 60 seconds (the
`limits <https://limits.readthedocs.io>`_ library's moving window: a burst of up to
``per_minute``, then a request whenever the oldest one of the last minute turns a minute
old). One instance limits each API key (``api.rate_limit_per_minute``), another each
client address without a valid key (``api.anonymous_rate_limit_per_minute``, keys from
:func:`address_bucket`; see :mod:`api.security`).

Where the counts live is ``api.rate_limit_storage_url``: ``memory://`` (the embedded
default: each API process counts alone) or a Redis URL, shared by every replica, so a
key's limit holds across all of them. A storage that cannot be reached is a 503
(:class:`~core.errors.BackendUnavailableError`), never a request let through uncounted.

Body sizes are checked before the body is read (``Content-Length``) and while it streams
in (chunked uploads), so an oversized upload is refused without being stored.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis import Redis
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import RATE_LIMIT_STORAGE_SCHEMES, BackendUnavailableError, ConfigError, DeepwellError

MB = 1_000_000

#: Longest wait for the Redis storage (connect, then each command): a request fails with
#: 503 after this rather than hanging on an unreachable server.
STORAGE_TIMEOUT_S = 2.0
#: IPv6 clients are limited per /64: one subscriber usually holds a whole /64 and could
#: otherwise take a fresh address (and a fresh bucket) for every request.
IPV6_PREFIX = 64


class RateLimitedError(DeepwellError):
    """The key (or client address) sent more requests than its rate limit allows; retry later."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def rate_limit_storage(url: str) -> Storage:
    """The ``limits`` storage at ``url`` (``memory://`` or a Redis URL).

    Raises:
        ConfigError: a scheme outside :data:`~core.settings.RATE_LIMIT_STORAGE_SCHEMES`.
    """
    scheme = url.partition("://")[0]
    if scheme not in RATE_LIMIT_STORAGE_SCHEMES:
        raise ConfigError(
            f"api.rate_limit_storage_url: scheme {scheme!r} is not one of "
            f"{', '.join(RATE_LIMIT_STORAGE_SCHEMES)}"
        )
    storage = storage_from_string(
        url,
        wrap_exceptions=True,
        key_prefix="deepwell",
        socket_connect_timeout=STORAGE_TIMEOUT_S,
        socket_timeout=STORAGE_TIMEOUT_S,
    )
    assert isinstance(storage, Storage)  # a synchronous scheme gives a synchronous storage
    return storage


def address_bucket(host: str | None) -> str:
    """The rate-limit key of a client address: ``addr:<IPv4>``, ``addr:<IPv6 /64>``.

    A client must not be able to pick a fresh key at will: IPv6 addresses count per /64
    (an IPv4-mapped one as its IPv4 address), and anything that is not an IP address (a
    proxy's malformed ``X-Forwarded-For``) shares one ``addr:invalid`` bucket.
    """
    if not host:
        return "addr:unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "addr:invalid"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        net = ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False)
        return f"addr:{net}"
    return f"addr:{ip}"


class RateLimiter:
    """``per_minute`` requests per key in any 60 seconds, counted in ``storage``.

    ``storage`` is a ``limits`` storage or its URL (:func:`rate_limit_storage`); limiters
    sharing one storage are told apart by ``scope``. ``per`` names what a key stands for
    in the 429 message ("key", "client address without a valid key"). ``per_minute`` 0
    turns limiting off.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        storage: Storage | str = "memory://",
        scope: str = "key",
        per: str = "key",
    ) -> None:
        self.per_minute = per_minute
        self.per = per
        self.scope = scope
        self.storage = rate_limit_storage(storage) if isinstance(storage, str) else storage
        self.item = RateLimitItemPerMinute(max(1, per_minute))
        self._strategy = MovingWindowRateLimiter(self.storage)

    @property
    def shared(self) -> bool:
        """Whether the counts live outside this process (every check is a network call)."""
        return not isinstance(self.storage, MemoryStorage)

    def check(self, key: str) -> None:
        """Count one request of ``key``.

        Raises:
            RateLimitedError: ``key`` made ``per_minute`` requests in the last 60 seconds
                (``retry_after_s``: until the oldest of them turns a minute old).
            BackendUnavailableError: the storage cannot be reached.
        """
        if self.per_minute <= 0:
            return
        with self._storage_errors():
            if self._strategy.hit(self.item, self.scope, key):
                return
            stats = self._strategy.get_window_stats(self.item, self.scope, key)
        wait = max(0.0, stats.reset_time - time.time())
        raise RateLimitedError(
            f"rate limit of {self.per_minute} requests per minute per {self.per} reached; "
            f"retry in {max(1, math.ceil(wait))} s",
            retry_after_s=wait,
        )

    def refund(self, key: str) -> None:
        """Take back one request :meth:`check` counted for ``key`` (the request turned out
        not to count, e.g. a key check that succeeded).

        ``limits`` has no call for it, so this removes the newest entry of the key's
        moving window from the storage itself (its list in memory, ``LPOP`` in Redis).
        """
        if self.per_minute <= 0:
            return
        name = self.item.key_for(self.scope, key)
        with self._storage_errors():
            if isinstance(self.storage, MemoryStorage):
                with self.storage.locks[name]:
                    if events := self.storage.events.get(name):
                        del events[0]  # newest first
            elif isinstance(self.storage, RedisStorage):
                client = cast(Redis, self.storage.get_connection())  # limits types a Protocol
                client.lpop(self.storage.prefixed_key(name))
            else:  # pragma: no cover - rate_limit_storage builds only the two above
                raise NotImplementedError(type(self.storage).__name__)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """A storage that fails (Redis down, a timeout) is a 503, never an uncounted request."""
        try:
            yield
        except StorageError as exc:
            cause = type(exc.storage_error).__name__
            raise BackendUnavailableError(f"rate-limit storage unavailable ({cause})") from exc
        except self.storage.base_exceptions as exc:  # raised by refund's own Redis call
            cause = type(exc).__name__
            raise BackendUnavailableError(f"rate-limit storage unavailable ({cause})") from exc


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
