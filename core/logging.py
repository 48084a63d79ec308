"""Structured logging: named fields, console or JSON lines, one configuration.

Log events with fields (``log.info("ingest.done", docs=3, seconds=1.2)``), never
document text or secrets.

Every record, deepwell's and third-party (uvicorn, libraries through stdlib
logging), goes through one :class:`structlog.stdlib.ProcessorFormatter` whose
last steps render exceptions as plain tracebacks (never with local variables:
those held API keys, headers and uploaded bytes) and pass every field through
:func:`redact`, so a secret that slips into a message, a field or an exception
is masked before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, WrappedLogger

#: Chatty third-party loggers kept at warning unless deepwell runs at debug.
_NOISY = (
    "httpx",
    "httpx2",
    "httpcore",
    "urllib3",
    "sentence_transformers",
    "unstructured",
    "pdfminer",
    "llama_index",
    "ragas",
    "multipart",
    "filelock",
    "asyncio",
    "alembic",
)

MASK = "***"
#: Frames kept per exception of a traceback (the innermost ones, where it failed).
MAX_FRAMES = 20
#: Characters kept of one traceback line, and of a whole rendered traceback.
MAX_TRACEBACK_LINE = 1_000
MAX_TRACEBACK = 16_000
#: Characters kept of any one string field (a runaway value must not flood the log).
MAX_FIELD = 16_000
_MAX_DEPTH = 12

#: Headers whose values are credentials.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
#: Field names whose (non-numeric) values are secrets.
_SECRET_NAME = re.compile(
    r"secret|passw|pwd|token(?!i[sz])|api[_-]?key|authorization|cookie|credential|private[_-]?key",
    re.IGNORECASE,
)
#: An API key (``dw_`` + 43 URL-safe characters), also cut short: its visible prefix
#: (``dw_`` and 8 characters, shown in key listings) is kept, the rest masked.
_API_KEY = re.compile(r"(dw_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{4,}")
_BEARER = re.compile(r"\b(bearer)(\s+)(?!<)[^\s'\",;]+", re.IGNORECASE)
#: ``scheme://user:password@host``: the password goes.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@'\"]*:)[^\s/?#@'\"]+@")
#: A credential header written out: ``cookie: v``, ``"x-api-key": "v"``, ``(b'cookie', b'v')``.
_HEADER_TEXT = re.compile(
    r"\b(proxy-authorization|authorization|x-api-key|set-cookie|cookie)"
    r"((?:['\"]?[ \t]*[:=][ \t]*|['\"][ \t]*,[ \t]*)(?:b?['\"])?)"
    r"(?![ \t]*(?:bearer[ \t]+)?<)(?![ \t]*\*\*\*)[^'\"\r\n]+",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """``text`` with API keys, bearer tokens, URL passwords and credential headers masked."""
    if "dw_" in text:
        text = _API_KEY.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    return _HEADER_TEXT.sub(rf"\1\2{MASK}", text)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}…[{len(text) - limit} characters cut]…{text[-tail:]}"


def _name_of(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1").lower()
    if isinstance(value, str):
        return value.lower()
    return None


def _masked(value: object) -> object:
    """A secret's stand-in: numbers (counts like ``prompt_tokens``) and ``None`` stay."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return MASK.encode() if isinstance(value, bytes) else MASK


def redact(value: Any, _depth: int = 0) -> Any:
    """``value`` with every secret masked, recursively.

    Strings go through :func:`redact_text`; mappings mask the values of secret-named keys
    (``password``, ``api_key``, ``authorization``...); a ``(name, value)`` pair naming a
    credential header (as ASGI scopes carry headers, in bytes) masks its value; exceptions
    become ``Type: message``; other objects their redacted ``repr`` (what the renderers
    would print). Pure: the input is not changed.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if _depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, str | bytes | bytearray):
        return _redact_string(value)
    if isinstance(value, Mapping):
        return {
            key: _masked(item)
            if _SECRET_NAME.search(_name_of(key) or "")
            else redact(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, tuple | list | set | frozenset):
        return _redact_collection(value, _depth)
    text = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else repr(value)
    return _redact_string(text)


def _redact_string(value: str | bytes | bytearray) -> str | bytes:
    if isinstance(value, str):
        return _cap(redact_text(value), MAX_FIELD)
    text = redact_text(bytes(value).decode("utf-8", "backslashreplace"))
    return _cap(text, MAX_FIELD).encode("utf-8", "backslashreplace")


def _redact_collection(
    value: tuple[Any, ...] | list[Any] | set[Any] | frozenset[Any], depth: int
) -> tuple[Any, ...] | list[Any]:
    if isinstance(value, tuple | list) and len(value) == 2 and _name_of(value[0]) in SECRET_HEADERS:
        pair = [value[0], _masked(value[1])]  # a credential header: (name, value)
        return tuple(pair) if isinstance(value, tuple) else pair
    items = [redact(item, depth + 1) for item in value]
    return tuple(items) if isinstance(value, tuple) else items


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: :func:`redact` over every field (run after exceptions are rendered)."""
    redacted: EventDict = redact(event_dict)
    return redacted


def format_exception(exc_info: ExcInfo) -> str:
    """A plain traceback: the innermost :data:`MAX_FRAMES` frames of each exception, no local
    variables, long lines and the whole capped (secrets are masked afterwards, by
    :func:`redact_event`)."""
    lines = traceback.format_exception(*exc_info, limit=-MAX_FRAMES)
    text = "".join(
        line if len(line) <= MAX_TRACEBACK_LINE else _cap(line, MAX_TRACEBACK_LINE) + "\n"
        for line in lines
    )
    return _cap(text.rstrip("\n"), MAX_TRACEBACK)


def _plain_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    """The console renderer's exception formatter (records normally arrive already rendered)."""
    sio.write("\n" + redact_text(format_exception(exc_info)))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a record is emitted, not when configured.

    A stream captured at configuration time goes stale once stderr is redirected (a
    test's capture, a daemon's re-opened log): records then fail with "I/O operation
    on closed file" instead of reaching the current stderr.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["console", "json"] = "console",
) -> None:
    """Route structlog and stdlib logging through one renderer on stderr.

    Both formats render exceptions with :func:`format_exception` (no locals) and redact
    every field (:func:`redact_event`) just before rendering.
    """
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger bound before a reconfiguration (or inside structlog's
        # capture_logs in tests) would keep the old processors for good.
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.ExceptionRenderer(format_exception),
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Servers configured by their own logging config (uvicorn's default dictConfig) keep
    # handlers of their own that render around this one: send them through it too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    for name in _NOISY:
        logging.getLogger(name).setLevel(numeric if level == "debug" else logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to ``name`` (use the module's ``__name__``)."""
    return structlog.stdlib.get_logger(name)


def _safe_defaults() -> None:
    """Until :func:`configure_logging` runs (an app embedded by another server, a library
    user, a test), structlog's own defaults would render exceptions with rich and their
    local variables. Replace them with the same chain minus that: plain tracebacks and
    redaction. Leaves stdlib logging alone."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.dev.set_exc_info,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.processors.ExceptionRenderer(format_exception),
            redact_event,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        cache_logger_on_first_use=False,
    )


_safe_defaults()
