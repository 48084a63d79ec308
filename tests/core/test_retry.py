"""The one retry policy (core.retry): which errors are retried, how often, how long between."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from core import retrying


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(policy_kw: dict[str, object], call: Flaky, slept: list[float]) -> str:
    policy = retrying(**policy_kw).copy(sleep=slept.append)  # type: ignore[arg-type]
    for attempt in policy:
        with attempt:
            return call()
    raise AssertionError("unreachable")


def is_connection(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


def test_a_passing_failure_is_retried_with_doubling_jittered_delays() -> None:
    call, slept = Flaky(ConnectionError("reset"), ConnectionError("reset"), ConnectionError()), []
    kw = {"attempts": 4, "retry_on": is_connection, "backoff_s": 0.5}
    assert run(kw, call, slept) == "ok"
    assert call.calls == 4
    assert len(slept) == 3
    for n, delay in enumerate(slept):  # 0.5, 1, 2 s, each plus up to 0.5 s of jitter
        assert 0.5 * 2**n <= delay <= 0.5 * 2**n + 0.5


def test_the_last_error_is_raised_as_it_is_once_attempts_run_out() -> None:
    call, slept = Flaky(*(ConnectionError(f"try {i}") for i in range(5))), []
    with pytest.raises(ConnectionError, match="try 2"):
        run({"attempts": 3, "retry_on": is_connection}, call, slept)
    assert call.calls == 3
    assert slept == [0.0, 0.0]  # no backoff asked: retried at once


def test_other_errors_are_not_retried() -> None:
    call, slept = Flaky(ValueError("bad request")), []
    with pytest.raises(ValueError, match="bad request"):
        run({"attempts": 5, "retry_on": is_connection, "backoff_s": 1.0}, call, slept)
    assert call.calls == 1
    assert slept == []


def test_each_retry_is_logged_with_its_fields_but_not_the_message() -> None:
    call, slept = Flaky(ConnectionError("secret=hunter2")), []
    kw = {"attempts": 2, "retry_on": is_connection, "event": "thing.retry", "action": "count"}
    with capture_logs() as logs:
        assert run(kw, call, slept) == "ok"
    assert logs == [
        {
            "event": "thing.retry",
            "log_level": "warning",
            "attempt": 1,
            "delay_s": 0.0,
            "error": "ConnectionError",
            "action": "count",
        }
    ]
