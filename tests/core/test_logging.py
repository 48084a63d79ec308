"""Logs go to the stderr of the moment, rendered by structlog."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.logging import configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_records_reach_stderr_replaced_after_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A daemon re-opening its log, or a test capturing stderr, must not see
    "I/O operation on closed file" from a stream captured at configuration time."""
    configure_logging("info", "json")
    for _ in range(2):  # the first stream is closed before the second is installed
        stream = io.StringIO()
        monkeypatch.setattr("sys.stderr", stream)
        get_logger("deepwell.test").warning("worker.retry", attempt=2)
        record = json.loads(stream.getvalue())
        assert record["event"] == "worker.retry"
        assert record["attempt"] == 2
        assert record["level"] == "warning"
        stream.close()


def test_the_level_filters_records(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("warning", "json")
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    get_logger("deepwell.test").info("quiet")
    get_logger("deepwell.test").error("loud")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["loud"]
