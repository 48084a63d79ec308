"""Structured logging: named fields, console or JSON lines, one configuration.

Log events with fields (``log.info("ingest.done", docs=3, seconds=1.2)``), never
document text or secrets.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog

#: Chatty third-party loggers kept at warning unless deepwell runs at debug.
_NOISY = (
    "httpx",
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
    """Route structlog and stdlib logging through one renderer on stderr."""
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
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _NOISY:
        logging.getLogger(name).setLevel(numeric if level == "debug" else logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to ``name`` (use the module's ``__name__``)."""
    return structlog.stdlib.get_logger(name)
